"""The service's jobs on a Ray cluster (`veil serve --ray ADDRESS`).

Each of the service's worker processes stays the owner of its job (the job store, the time
limit, deletion) and hands the engine's work to a Ray task on whichever node has a free CPU.
The upload travels in Ray's object store, so the nodes need no shared file system; a node
that runs a video writes it to a private temporary folder that is removed when the task
ends, whatever happens, and the object store frees its copies once the task's result is
back (the task's owner, the worker process, holds the only references). When a worker
process is stopped (the job's time limit, the service's end), Ray stops the tasks it owns.
Node loss: Ray runs the task again elsewhere (RETRIES times).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .. import (
    AnonymizedImage,
    FileReport,
    ImagePlan,
    InternalError,
    Options,
    VeilError,
    VideoPlan,
    anonymize_image,
    anonymize_video,
    load_models,
)
from ..media.files import write_atomic
from .runtime import connect

RETRIES = 2  # a task whose node or worker is lost runs again, this many times at most


def _image_task(data: bytes, options: Options, plan: ImagePlan | VideoPlan | None
                ) -> AnonymizedImage:
    detect = options.detect
    models = None if plan is not None else load_models(detect.profile, 1, detect.backend,
                                                       detect.device)
    return anonymize_image(data, options, plan=plan, models=models, name="upload")


def _video_task(data: bytes, suffix: str, options: Options, plan: VideoPlan | None
                ) -> tuple[bytes, VideoPlan, FileReport]:
    with tempfile.TemporaryDirectory(prefix="veil-job-") as folder:
        src, dst = Path(folder) / f"upload{suffix}", Path(folder) / "result.mp4"
        src.write_bytes(data)
        del data
        # without a plan, anonymize_video loads the options' video models itself
        made, report = anonymize_video(src, dst, options, plan=plan, name="upload", threads=1)
        return dst.read_bytes(), made, report


class RemoteEngine:
    """The engine's photo and video calls, run as Ray tasks on the cluster at `address`."""

    def __init__(self, address: str) -> None:
        import ray

        connect(address)
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": RETRIES}
        self._image = ray.remote(**options)(_image_task)
        self._video = ray.remote(**options)(_video_task)

    def image(self, data: bytes, options: Options,
              plan: ImagePlan | VideoPlan | None) -> AnonymizedImage:
        result: AnonymizedImage = _wait(self._image.remote(data, options, plan))
        return result

    def video(self, src: Path, dst: Path, options: Options,
              plan: VideoPlan | None) -> tuple[VideoPlan, FileReport]:
        """`src` anonymized into `dst` (written atomically here)."""
        data, made, report = _wait(self._video.remote(src.read_bytes(), src.suffix, options,
                                                      plan))
        write_atomic(dst, data)
        return made, report


def _wait(ref: Any) -> Any:
    """The task's result; the engine's own error when it raised one (a bad file stays a
    4xx), an InternalError for anything else."""
    import ray
    import ray.exceptions as rex

    try:
        return ray.get(ref)
    except rex.RayTaskError as exc:
        if isinstance(exc.cause, VeilError):
            raise exc.cause from None
        raise InternalError(f"internal error on the cluster: {type(exc.cause).__name__}"
                            ) from None
    except rex.RayError as exc:
        raise InternalError(f"the cluster could not run the job: {type(exc).__name__}"
                            ) from None
