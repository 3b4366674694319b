"""The Ray front end: a batch's files on a Ray cluster (or a Ray runtime started here), each
run by an actor that holds its loaded models, with the outputs, reports and fail-closed rules
of the local path (veil.jobs runs every file, there and here).

Faults. A file that fails for its own reasons (damaged, refused, over a limit) is reported
once and never retried. An actor lost with its worker process or its node fails no file:
the file goes back to the queue and another actor takes it, at most MAX_ATTEMPTS times (a
file that kills whatever reads it is not retried for ever); a new actor takes the lost one's
place when the cluster has room; the run's report lists every retry. Outputs are written
atomically (veil.media.files), so a lost attempt leaves at most a `.veil-*.part` file beside
its output, removed when the run ends; a retried file is written once, complete.

Every node needs the same veil installed and must see the inputs and outputs at the same
paths (a shared file system). Videos go whole to one actor each (one CPU each).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import BatchJob, FileReport, Models, Options, PlanSet, SetupError, VeilError, load_models
from .jobs import Plan, anonymize_one, outcome

Result = tuple[FileReport, Plan | None]
MAX_ATTEMPTS = 3  # a file whose worker is lost this many times fails
# No actor has started for this long and none is working: the cluster has no room for one.
START_TIMEOUT_S = 300.0
CONNECT_TIMEOUT_S = 10.0
TEMP_GLOB = ".veil-*.part"  # as veil.media.files names its temporary outputs
_remote_worker: Any = None  # FileWorker as a Ray actor class, made once per process


class FileWorker:
    """A Ray actor's state: the models, loaded once, and the run's options."""

    def __init__(self, options: Options, threads: int, need_models: bool) -> None:
        detect = options.detect
        self.models: Models | None = (
            load_models(detect.profile, threads, detect.backend) if need_models else None
        )
        self.options, self.threads = options, threads

    def ready(self) -> bool:
        return True

    def run(self, job: BatchJob, given: PlanSet | None) -> Result:
        def attempt(plan: Plan | None) -> tuple[FileReport, Plan]:
            return anonymize_one(job, self.options, plan, self.models, self.threads)

        return outcome(job, given, attempt)


@dataclass
class _Attempt:
    index: int
    job: BatchJob
    tries: int = 1


@dataclass
class _Actor:
    handle: Any
    started: bool = False


@dataclass
class RayPool:
    """Runs a batch's jobs on Ray actors; `run` yields each result as it comes back."""

    options: Options
    threads: int = 1  # inference threads per actor (each asks Ray for one CPU)
    need_models: bool = True
    workers: int = 0  # actors at once (0: one per CPU of the cluster)
    retried: list[dict[str, Any]] = field(default_factory=list)

    def run(self, jobs: list[BatchJob], indices: list[int],
            given: PlanSet | None) -> Iterator[tuple[int, Result]]:
        """(index, result) for each job, in the order they finish."""
        import ray

        queue = deque(_Attempt(i, j) for i, j in zip(indices, jobs, strict=True))
        actors: list[_Actor] = []
        pending: dict[Any, tuple[_Actor, _Attempt | None]] = {}  # calls not yet answered
        for _ in range(min(self.workers or cluster_cpus(), len(queue))):
            self._start(actors, pending)
        begun, quiet_since = time.time(), time.monotonic()
        try:
            while queue or any(attempt is not None for _, attempt in pending.values()):
                done, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
                if done:
                    quiet_since = time.monotonic()
                    actor, attempt = pending.pop(done[0])
                    result = self._collect(done[0], actor, attempt, queue)
                    if result is not None and attempt is not None:
                        yield attempt.index, result
                    if actor.started and queue:
                        self._assign(actor, queue.popleft(), given, pending)
                    elif not actor.started and queue:  # lost: a new one when there is room
                        self._start(actors, pending)
                elif time.monotonic() - quiet_since > START_TIMEOUT_S and not any(
                        a.started for a, _ in pending.values()):
                    yield from _give_up(queue)
                    return
        finally:
            for actor in actors:
                ray.kill(actor.handle)
            if self.retried:
                remove_parts_since({r["output_folder"] for r in self.retried}, begun)

    def _start(self, actors: list[_Actor],
               pending: dict[Any, tuple[_Actor, _Attempt | None]]) -> None:
        global _remote_worker
        import ray

        if _remote_worker is None:
            _remote_worker = ray.remote(num_cpus=1, max_restarts=0)(FileWorker)
        actor = _Actor(_remote_worker.remote(self.options, self.threads, self.need_models))
        actors.append(actor)
        pending[actor.handle.ready.remote()] = (actor, None)

    def _collect(self, ref: Any, actor: _Actor, attempt: _Attempt | None,
                 queue: deque[_Attempt]) -> Result | None:
        """The result of a ready call; None when there is none (an actor started or lost)."""
        import ray
        import ray.exceptions as rex

        try:
            value = ray.get(ref)
        except rex.RayActorError as exc:  # the actor, its process or its node is gone
            actor.started = False
            if attempt is None:
                return None
            reason = f"its worker was lost ({type(exc).__name__})"
            self.retried.append({"input": attempt.job.key, "attempt": attempt.tries,
                                 "reason": reason,
                                 "output_folder": str(attempt.job.dst.parent)})
            if attempt.tries < MAX_ATTEMPTS:
                queue.appendleft(_Attempt(attempt.index, attempt.job, attempt.tries + 1))
                return None
            error = f"internal error: {reason} {attempt.tries} times"
            return FileReport(input=attempt.job.key, status="failed", error=error), None
        except rex.RayTaskError as exc:  # a bug, not the file: it fails, the batch goes on
            if attempt is None:
                raise _setup_error(exc) from None
            error = f"internal error: {type(exc.cause).__name__}"
            return FileReport(input=attempt.job.key, status="failed", error=error), None
        if attempt is None:
            actor.started = True
            return None
        return value

    def _assign(self, actor: _Actor, attempt: _Attempt, given: PlanSet | None,
                pending: dict[Any, tuple[_Actor, _Attempt | None]]) -> None:
        ref = actor.handle.run.remote(attempt.job, _plans_for(attempt.job, given))
        pending[ref] = (actor, attempt)

    def public_retries(self) -> list[dict[str, Any]]:
        """The retries as the report lists them."""
        return [{k: v for k, v in r.items() if k != "output_folder"} for r in self.retried]


def _give_up(queue: deque[_Attempt]) -> Iterator[tuple[int, Result]]:
    error = f"no Ray worker could start in {START_TIMEOUT_S:.0f} s (no free CPU?)"
    for attempt in queue:
        yield attempt.index, (FileReport(input=attempt.job.key, status="failed", error=error),
                              None)


def _setup_error(exc: Exception) -> VeilError:
    """An actor that could not start: the models would not load anywhere either."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, VeilError):
        return cause
    return SetupError(f"a Ray worker could not start: {type(cause or exc).__name__}")


def _plans_for(job: BatchJob, given: PlanSet | None) -> PlanSet | None:
    """Only the job's own plan travels with it."""
    if given is None:
        return None
    return PlanSet(files={k: v for k, v in given.files.items() if k == job.key})


def cluster_cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def remove_parts_since(folders: set[str], since: float) -> int:
    """Remove the temporary outputs made in `folders` since `since` (a lost attempt's);
    returns how many."""
    removed = 0
    for folder in folders:
        for part in Path(folder).glob(TEMP_GLOB):
            with contextlib.suppress(OSError):
                if part.stat().st_mtime >= since:
                    part.unlink()
                    removed += 1
    return removed


@contextlib.contextmanager
def ray_runtime(address: str | None) -> Iterator[dict[str, Any]]:
    """Connected to the cluster at `address` (None: RAY_ADDRESS, else a runtime started
    here, ended with the block); yields what the report says about it."""
    try:
        import ray
    except ImportError:
        raise SetupError("--ray needs Ray: pip install 'veil[ray]'") from None
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        _reachable(address)
    try:
        ray.init(address=address, logging_level=logging.ERROR,
                 log_to_driver=False, include_dashboard=False, configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise SetupError(f"--ray: could not reach a Ray cluster at {address}: "
                         f"{str(exc).splitlines()[0]}") from None
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        yield {"address": ray.get_runtime_context().gcs_address, "nodes": len(nodes),
               "cpus": cluster_cpus()}
    finally:
        ray.shutdown()


def _reachable(address: str) -> None:
    """SetupError unless something listens at a `host:port` address (Ray itself would retry
    for minutes); other forms (`auto`, `ray://...`) are left to Ray."""
    host, _, port = address.rpartition(":")
    if not host or "/" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise SetupError(f"--ray: no Ray cluster answers at {address} "
                         f"({exc.strerror or type(exc).__name__})") from None
