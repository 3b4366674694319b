"""Worker processes: claim a queued job, run it through the engine, store the outcome.

Each worker is its own process so that a file that crashes a decoder takes down one worker
and one job, never the service; the web process notices, fails that job and starts another.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, VeilError
from ..masks import MaskStyleOptions
from ..media.image import EXTENSIONS, write_atomic
from ..media.video import EncodeOptions
from ..pipeline import (
    anonymize_image,
    anonymize_video,
    load_auditor,
    load_detector,
    load_video_detector,
)
from ..plan import ImagePlan, VideoPlan
from ..profiles import DEFAULT_PROFILE
from .store import Job, Store

log = logging.getLogger("veil.server")

MIME = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "tif": "image/tiff",
    "mp4": "video/mp4",
}
IDLE_POLL_S = 0.02
PROGRESS_EVERY_S = 0.25


@dataclass
class WorkerSettings:
    root: Path
    threads: int
    result_ttl: float
    max_pixels: int
    parent_pid: int


class JobGone(Exception):
    """The job was deleted (or the service went away) while it ran."""


def _die_with_parent() -> None:
    # Linux: the kernel kills this worker when the web process dies, even by SIGKILL, so no
    # orphan keeps working on (or holding) an upload after the service is gone.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def worker_main(settings: WorkerSettings) -> None:
    """A worker's whole life: load the models once, then take jobs until the service stops."""
    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the web process, which stops us
    if os.getppid() != settings.parent_pid:
        return
    store = Store(settings.root)
    load_detector(DEFAULT_PROFILE, settings.threads)
    load_auditor(DEFAULT_PROFILE, settings.threads)
    me = os.getpid()
    while os.getppid() == settings.parent_pid:
        job = store.claim(me)
        if job is None:
            time.sleep(IDLE_POLL_S)
            continue
        started = time.perf_counter()
        outcome = run_job(store, job, settings)
        log.info("job %s %s %s in %.2f s", job.id, job.kind, outcome, time.perf_counter() - started)


def run_job(store: Store, job: Job, settings: WorkerSettings) -> str:
    """Run one job to done or failed; never raises. Returns the outcome for the log."""
    try:
        if job.kind == "image":
            _run_image(store, job, settings)
        else:
            _run_video(store, job, settings)
        return "done"
    except JobGone:
        store.drop_results(job.id)
        store.drop_original(job.id)
        return "deleted while running"
    except InputError as exc:
        store.fail(job.id, str(exc), "input", settings.result_ttl)
        return "failed (input)"
    except VeilError as exc:
        store.fail(job.id, str(exc), "refused", settings.result_ttl)
        return "failed (refused)"
    except Exception as exc:  # noqa: BLE001 - fail this job, keep the worker
        store.fail(job.id, f"internal error: {type(exc).__name__}", "internal", settings.result_ttl)
        log.exception("job %s: internal error", job.id)
        return "failed (internal)"


def mask_options(options: dict[str, Any]) -> MaskStyleOptions:
    return MaskStyleOptions(
        style=options["mask"],
        shape=options["shape"],
        margin=float(options["margin"]),
        color=tuple(options["color"]),
    )


def _stored_plan(store: Store, job: Job) -> Any:
    if job.task != "render":
        return None
    return json.loads(store.plan_path(job.id).read_text())


def _finish(
    store: Store, job: Job, ext: str, plan: Any, report: dict[str, Any], ttl: float
) -> None:
    write_atomic(store.plan_path(job.id), json.dumps(plan.to_json()).encode())
    write_atomic(store.report_path(job.id), json.dumps(report, indent=1).encode())
    if store.get(job.id) is None:
        raise JobGone
    store.finish(job, ext, MIME[ext], ttl)


def _run_image(store: Store, job: Job, settings: WorkerSettings) -> None:
    options = job.options
    stored = _stored_plan(store, job)
    data = store.original_path(job.id).read_bytes()
    if not store.set_progress(job.id, "detect" if stored is None else "render", 0.1):
        raise JobGone
    detect = stored is None  # a re-render of an edited plan detects nothing
    result = anonymize_image(
        data,
        mask=mask_options(options),
        plan=None if detect else ImagePlan.from_json(stored),
        format=options.get("format"),
        max_pixels=settings.max_pixels,
        name="upload",
        detector=load_detector(options["profile"], settings.threads) if detect else None,
        auditor=load_auditor(options["profile"], settings.threads) if detect else None,
        audit=options["audit"],
        strict=options["strict"],
    )
    ext = EXTENSIONS[result.format].lstrip(".")
    for old in store.results.glob(f"{job.id}.*"):
        if old.suffix != f".{ext}" and not old.name.endswith(".json"):
            old.unlink()
    write_atomic(store.results / f"{job.id}.{ext}", result.data)
    result.report.output = f"result.{ext}"
    _finish(store, job, ext, result.plan, result.report.to_json(), settings.result_ttl)


def _run_video(store: Store, job: Job, settings: WorkerSettings) -> None:
    options = job.options
    stored = _stored_plan(store, job)
    src = store.original_path(job.id)
    passes = 1 if stored is not None else 2
    last = 0.0

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < PROGRESS_EVERY_S:
            return
        last = now
        if os.getppid() != settings.parent_pid:
            raise JobGone
        first = 0.0 if stage == "detect" or passes == 1 else 0.5
        if not store.set_progress(job.id, stage, first + min(done / max(total, 1), 1.0) / passes):
            raise JobGone

    plan, report = anonymize_video(
        src,
        store.results / f"{job.id}.mp4",
        detector=load_video_detector(options.get("min_face"), 1) if stored is None else None,
        mask=mask_options(options),
        plan=None if stored is None else VideoPlan.from_json(stored),
        encode=EncodeOptions(audio=options["audio"], threads=settings.threads),
        progress=progress,
        name="upload",
        parallel=settings.threads,
    )
    report.output = "result.mp4"
    _finish(store, job, "mp4", plan, report.to_json(), settings.result_ttl)
