"""Worker processes: claim a queued job, run it through the engine, store the outcome.

Each worker is its own process so that a file that crashes a decoder takes down one worker
and one job, never the service; the web process notices, fails that job and starts another.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import os
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import (
    InputError,
    InternalError,
    Options,
    VeilError,
    VideoPlan,
    anonymize_image,
    anonymize_video,
    formats,
    load_models,
    load_video_models,
    plan_from_json,
)
from ..media.files import write_atomic
from ..options import Limits
from ..scale.service import RemoteEngine
from .store import Job, Store

log = logging.getLogger("veil.server")

IDLE_POLL_S = 0.02
PROGRESS_EVERY_S = 0.25
RECONNECT_PAUSE_S = 5.0  # a worker that cannot reach the Ray cluster waits before it exits


@dataclass
class WorkerSettings:
    root: Path
    threads: int
    result_ttl: float
    limits: Limits  # the operator's, whatever a job asks
    parent_pid: int
    memory_mb: int = 0  # 0: no cap
    ray: str | None = None  # a Ray cluster runs the engine's work (veil.scale.service)


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


def _cap_memory(megabytes: int) -> None:
    """Cap this process's data memory: a file that needs more fails with MemoryError (an
    InputError, 422), or takes the worker down (the job fails, a new worker starts)."""
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def worker_main(settings: WorkerSettings) -> None:
    """A worker's whole life: load the models once, then take jobs until the service stops."""
    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the web process, which stops us
    if os.getppid() != settings.parent_pid:
        return
    store = Store(settings.root)
    engine = None
    if settings.ray is not None:  # the cluster loads the models and holds the files
        try:
            engine = RemoteEngine(settings.ray)
        except VeilError as exc:  # the supervisor starts another worker after a pause
            log.error("worker: %s", exc)
            time.sleep(RECONNECT_PAUSE_S)
            return
        # Ray's own handler writes a crash dump when the supervisor stops us; Ray stops the
        # tasks of a driver that is gone.
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    else:
        _cap_memory(settings.memory_mb)
        load_models(Options().detect.profile, settings.threads)
    me = os.getpid()
    while os.getppid() == settings.parent_pid:
        job = store.claim(me)
        if job is None:
            time.sleep(IDLE_POLL_S)
            continue
        started = time.perf_counter()
        outcome = run_job(store, job, settings, engine)
        log.info("job %s %s %s in %.2f s", job.id, job.kind, outcome, time.perf_counter() - started)


def run_job(store: Store, job: Job, settings: WorkerSettings,
            engine: RemoteEngine | None = None) -> str:
    """Run one job to done or failed (here, or on the cluster `engine` reaches); never
    raises. Returns the outcome for the log."""
    try:
        if job.kind == "image":
            _run_image(store, job, settings, engine)
        else:
            _run_video(store, job, settings, engine)
        return "done"
    except JobGone:
        store.drop_results(job.id)
        store.drop_original(job.id)
        return "deleted while running"
    except InternalError as exc:  # a bug met on this file: 500, one line, logged
        log.error("job %s: %s", job.id, exc)
        return store.fail_job(job, "internal error", "internal", settings.result_ttl)
    except InputError as exc:
        return store.fail_job(job, str(exc), "input", settings.result_ttl)
    except VeilError as exc:
        return store.fail_job(job, str(exc), "refused", settings.result_ttl)
    except Exception as exc:  # noqa: BLE001 - fail this job, keep the worker
        log.exception("job %s: internal error", job.id)
        error = f"internal error: {type(exc).__name__}"
        return store.fail_job(job, error, "internal", settings.result_ttl)


def job_options(job: Job, settings: WorkerSettings) -> Options:
    """The options stored with a job (checked again: the row is data), under the service's
    limits."""
    return dataclasses.replace(Options.from_flat(job.options), limits=settings.limits)


def _stored_plan(store: Store, job: Job) -> Any:
    """The edited plan a re-render takes (None for a first run, which detects)."""
    if job.task != "render":
        return None
    return json.loads(store.plan_next_path(job.id).read_text())


def _finish(
    store: Store, job: Job, written: formats.Format, plan: Any, report: dict[str, Any], ttl: float
) -> None:
    write_atomic(store.plan_path(job.id), json.dumps(plan.to_json()).encode())
    write_atomic(store.report_path(job.id), json.dumps(report, indent=1).encode())
    store.plan_next_path(job.id).unlink(missing_ok=True)
    if store.get(job.id) is None:
        raise JobGone
    store.finish(job, written.suffix.lstrip("."), written.mime, ttl)


def _run_image(store: Store, job: Job, settings: WorkerSettings,
               engine: RemoteEngine | None) -> None:
    options = job_options(job, settings)
    stored = _stored_plan(store, job)
    data = store.original_path(job.id).read_bytes()
    if not store.set_progress(job.id, "detect" if stored is None else "render", 0.1):
        raise JobGone
    detect = stored is None  # a re-render of an edited plan detects nothing
    plan = None if detect else plan_from_json(stored)  # tracks for an animation
    if engine is not None:
        result = engine.image(data, options, plan)
    else:
        models = load_models(options.detect.profile, settings.threads) if detect else None
        result = anonymize_image(data, options, plan=plan, models=models, name="upload")
    written = formats.by_name(result.format)
    ext = written.suffix.lstrip(".")
    for old in store.results.glob(f"{job.id}.*"):
        if old.suffix != f".{ext}" and not old.name.endswith(".json"):
            old.unlink()
    write_atomic(store.results / f"{job.id}.{ext}", result.data)
    result.report.output = f"result.{ext}"
    _finish(store, job, written, result.plan, result.report.to_json(), settings.result_ttl)


def _run_video(store: Store, job: Job, settings: WorkerSettings,
               engine: RemoteEngine | None) -> None:
    options = job_options(job, settings)
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

    given = None if stored is None else VideoPlan.from_json(stored)
    dst = store.results / f"{job.id}.mp4"
    if engine is not None:  # no progress from the cluster until it is done
        if not store.set_progress(job.id, "detect" if given is None else "encode", 0.0):
            raise JobGone
        plan, report = engine.video(src, dst, options, given)
    else:
        models = load_video_models(options.detect.min_face) if given is None else None
        plan, report = anonymize_video(src, dst, options, plan=given, models=models,
                                       progress=progress, name="upload",
                                       threads=settings.threads)
    report.output = "result.mp4"
    _finish(store, job, formats.by_name("MP4"), plan, report.to_json(), settings.result_ttl)
