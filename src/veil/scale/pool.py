"""The driver's side of a run on Ray: tasks (whole files, spans of a video's detection) shared
out to actors as they come free, results back in the order they finish, and a lost actor's
task retried on another (see the package's docstring for the rules)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import (
    PART_ALIGN,
    SPAN_ALIGN,
    BatchJob,
    FileReport,
    Options,
    PlanSet,
    RenderedPart,
    SetupError,
    VeilError,
    VideoPlan,
    VideoSpan,
    count_packets,
    join_spans,
    part_path,
    probe_video,
    remove_stale_parts,
    video_spans,
)
from ..jobs import Plan
from .runtime import cluster_cpus
from .worker import FileWorker

Result = tuple[FileReport, Plan | None]
MAX_ATTEMPTS = 3  # a task whose actor is lost this many times fails its file
# No actor has started for this long and none is working: the cluster has no room for one.
START_TIMEOUT_S = 300.0
# A video's detection is split into about this many spans per actor (so that a slow actor
# holds up little), none shorter than MIN_SPAN_FRAMES (each span costs one more full view).
SPANS_PER_ACTOR, MIN_SPAN_FRAMES = 2, 32
_remote_worker: Any = None  # FileWorker as a Ray actor class, made once per process


@dataclass
class _Task:
    """One call for an actor: a whole file ("run"), a span of a video's detection ("span"),
    a part of its rendering ("render") or the join of its parts ("join")."""

    index: int  # the job's place in the batch
    job: BatchJob
    method: str
    args: tuple[Any, ...]
    tries: int = 1


@dataclass
class _Split:
    """A video run in pieces: its detection in spans (none when a reviewed plan was given),
    then its rendering in parts joined into the output; what is back so far."""

    count: int  # detection spans
    spans: list[VideoSpan] = field(default_factory=list)
    failed: bool = False
    detected: FileReport | None = None  # what the spans say for the report (backend, audit)
    video_plan: VideoPlan | None = None
    plan: Any = None  # the same, in Ray's object store (each part's task reads it there)
    parts: list[RenderedPart] = field(default_factory=list)
    part_paths: list[Path] = field(default_factory=list)
    joined: bool | None = None  # None: not joined (yet); False: encoded whole instead


@dataclass
class _Actor:
    handle: Any
    started: bool = False


Pending = dict[Any, tuple[_Actor, _Task | None]]  # calls not yet answered (None: start-up)


@dataclass
class RayPool:
    """Runs a batch's jobs on Ray actors; `run` yields each result as it comes back."""

    options: Options
    threads: int = 1  # inference threads per actor (each asks Ray for one CPU)
    need_models: bool = True
    workers: int = 0  # actors at once (0: one per CPU of the cluster)
    _actors: int = field(default=1, init=False, repr=False)  # this run's
    retried: list[dict[str, Any]] = field(default_factory=list)
    splits: dict[int, _Split] = field(default_factory=dict)

    def run(self, jobs: list[BatchJob], indices: list[int],
            given: PlanSet | None) -> Iterator[tuple[int, Result]]:
        """(index, result) for each job, in the order they finish."""
        import ray

        size = self._actors = self.workers or cluster_cpus()
        queue = deque(task for i, job in zip(indices, jobs, strict=True)
                      for task in self._tasks_of(i, job, given, size))
        actors: list[_Actor] = []
        pending: Pending = {}
        for _ in range(min(size, len(queue))):
            self._start(actors, pending)
        begun, quiet_since = time.time(), time.monotonic()
        try:
            while queue or any(task is not None for _, task in pending.values()):
                done, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
                if done:
                    quiet_since = time.monotonic()
                    actor, task = pending.pop(done[0])
                    yield from self._answer(done[0], actor, task, queue)
                    if actor.started and queue:
                        self._assign(actor, queue.popleft(), pending)
                    elif not actor.started and queue:  # lost: a new one when there is room
                        self._start(actors, pending)
                elif time.monotonic() - quiet_since > START_TIMEOUT_S and not any(
                        a.started for a, _ in pending.values()):
                    yield from self._give_up(queue)
                    return
        finally:
            for actor in actors:
                ray.kill(actor.handle)
            for split in self.splits.values():  # a failed video's rendered parts
                for part in split.part_paths:
                    part.unlink(missing_ok=True)
            if self.retried:  # what a lost attempt was writing
                remove_stale_parts({Path(r["output_folder"]) for r in self.retried}, begun)

    def _tasks_of(self, index: int, job: BatchJob, given: PlanSet | None,
                  actors: int) -> list[_Task]:
        """A video on several actors becomes spans to detect (or, with its reviewed plan,
        parts to render); anything else one task."""
        if job.kind != "video" or job.refused or actors < 2:
            return [_Task(index, job, "run", (job, _plans_for(job, given)))]
        if given is not None:
            plan = _given_plan(job, given)
            if not isinstance(plan, VideoPlan):  # the whole run says why
                return [_Task(index, job, "run", (job, _plans_for(job, given)))]
            self.splits[index] = _Split(0)
            return self._render_tasks(index, job, plan)
        bounds = spans_of(_declared_frames(job, self.options), actors)
        if len(bounds) < 2:
            return [_Task(index, job, "run", (job, None))]
        self.splits[index] = _Split(len(bounds))
        return [_Task(index, job, "span", (job, a, b)) for a, b in bounds]

    def _render_tasks(self, index: int, job: BatchJob, plan: VideoPlan) -> list[_Task]:
        """The parts a video's rendering is split into, each to a temporary file beside the
        output (the whole video as one task when splitting does not pay)."""
        import ray

        split = self.splits[index]
        bounds = spans_of(plan.frames, self._actors, PART_ALIGN)
        if len(bounds) < 2:
            split.joined = False
            # its file was hashed against the plan already (_given_plan): not again there
            checked = replace(plan, sha256=None)
            return [_Task(index, job, "run", (job, PlanSet(files={job.key: checked})))]
        split.video_plan, split.plan = plan, ray.put(plan)
        split.part_paths = [part_path(job.dst.parent) for _ in bounds]
        return [_Task(index, job, "render", (job, split.plan, a, b, str(path)))
                for (a, b), path in zip(bounds, split.part_paths, strict=True)]

    def _start(self, actors: list[_Actor], pending: Pending) -> None:
        global _remote_worker
        import ray

        if _remote_worker is None:
            _remote_worker = ray.remote(num_cpus=1, max_restarts=0)(FileWorker)
        actor = _Actor(_remote_worker.remote(self.options, self.threads, self.need_models))
        actors.append(actor)
        pending[actor.handle.ready.remote()] = (actor, None)

    def _assign(self, actor: _Actor, task: _Task, pending: Pending) -> None:
        pending[getattr(actor.handle, task.method).remote(*task.args)] = (actor, task)

    def _answer(self, ref: Any, actor: _Actor, task: _Task | None,
                queue: deque[_Task]) -> Iterator[tuple[int, Result]]:
        """What a call's answer means: an actor started or lost, a file done, a piece in."""
        import ray
        import ray.exceptions as rex

        try:
            value = ray.get(ref)
        except rex.RayActorError as exc:  # the actor, its process or its node is gone
            actor.started = False
            if task is not None:
                yield from self._lost(task, type(exc).__name__, queue)
            return
        except rex.RayTaskError as exc:  # a bug, not the file: it fails, the batch goes on
            if task is None:
                raise _setup_error(exc) from None
            yield from self._fail(task, f"internal error: {type(exc.cause).__name__}")
            return
        if task is None:
            actor.started = True
        elif task.method in ("span", "render"):
            yield from self._piece_in(task, value, queue)
        elif task.method == "join" and value is None:  # the parts would not join as they are
            split = self.splits[task.index]
            assert split.video_plan is not None
            split.joined = False
            queue.appendleft(_Task(task.index, task.job, "run",
                                   (task.job, PlanSet(files={task.job.key: split.video_plan}))))
        else:
            yield task.index, self._finished(task.index, value)

    def _lost(self, task: _Task, why: str, queue: deque[_Task]) -> Iterator[tuple[int, Result]]:
        reason = f"its worker was lost ({why})"
        entry = {"input": task.job.key, "attempt": task.tries, "reason": reason,
                 "output_folder": str(task.job.dst.parent)}
        frames = {"span": task.args[1:3], "render": task.args[2:4]}.get(task.method)
        if frames is not None:
            entry["frames"] = list(frames)
        self.retried.append(entry)
        if task.tries < MAX_ATTEMPTS:
            args = task.args
            if task.method == "run":  # what the lost attempt wrote is this run's to replace
                args = (replace(task.job, replace=True), *args[1:])
            queue.appendleft(_Task(task.index, task.job, task.method, args, task.tries + 1))
        else:
            yield from self._fail(task, f"internal error: {reason} {task.tries} times")

    def _fail(self, task: _Task, error: str) -> Iterator[tuple[int, Result]]:
        split = self.splits.get(task.index)
        if split is not None and task.method in ("span", "render"):
            if split.failed:
                return  # the file has failed already
            split.failed = True
        yield task.index, (FileReport(input=task.job.key, status="failed", error=error), None)

    def _piece_in(self, task: _Task, value: VideoSpan | RenderedPart | FileReport,
                  queue: deque[_Task]) -> Iterator[tuple[int, Result]]:
        """A span or a rendered part back, or why its file fails (once per file)."""
        split = self.splits[task.index]
        if split.failed:
            return
        if isinstance(value, FileReport):
            split.failed = True
            yield task.index, (value, None)
        elif isinstance(value, VideoSpan):
            yield from self._span_in(task, value, queue)
        else:
            self._part_in(task, value, queue)

    def _span_in(self, task: _Task, value: VideoSpan,
                 queue: deque[_Task]) -> Iterator[tuple[int, Result]]:
        """A span back; with the last one, the plan, and its rendering queued first."""
        split = self.splits[task.index]
        split.spans.append(value)
        if len(split.spans) < split.count:
            return
        job = task.job
        split.detected = FileReport(input=job.key)
        try:
            plan = join_spans(split.spans, self.options, split.detected)
        except VeilError as exc:
            split.failed = True
            yield task.index, (FileReport(input=job.key, status="failed", error=str(exc)), None)
            return
        split.detected.timings = {"detect": round(sum(s.seconds for s in split.spans), 3)}
        split.spans.clear()  # the boxes live on in the plan
        queue.extendleft(reversed(self._render_tasks(task.index, job, plan)))

    def _part_in(self, task: _Task, value: RenderedPart, queue: deque[_Task]) -> None:
        """A rendered part back; with the last one, the join queued first."""
        split = self.splits[task.index]
        split.parts.append(value)
        if len(split.parts) == len(split.part_paths):
            queue.appendleft(_Task(task.index, task.job, "join",
                                   (task.job, split.plan, list(split.parts))))

    def _finished(self, index: int, result: Result) -> Result:
        """A file's result; for a video detected in spans, with what the spans found."""
        split = self.splits.get(index)
        report, made = result
        if split is not None and report.status == "ok":
            if split.joined is None:
                split.joined = True
            if split.detected is not None:
                report.backend, report.audit = split.detected.backend, split.detected.audit
                report.timings["detect"] = split.detected.timings.get("detect", 0.0)
        return report, made

    def _give_up(self, queue: deque[_Task]) -> Iterator[tuple[int, Result]]:
        error = f"no Ray worker could start in {START_TIMEOUT_S:.0f} s (no free CPU?)"
        for task in queue:
            yield from self._fail(task, error)

    def split_videos(self, jobs: list[BatchJob]) -> list[dict[str, Any]]:
        """The videos run in pieces, as the report lists them: detection spans (0: a
        reviewed plan), rendered parts, and whether they were joined (else encoded whole)."""
        return [{"input": jobs[i].key, "spans": split.count, "parts": len(split.part_paths),
                 "joined": bool(split.joined)}
                for i, split in sorted(self.splits.items())]

    def public_retries(self) -> list[dict[str, Any]]:
        """The retries as the report lists them."""
        return [{k: v for k, v in r.items() if k != "output_folder"} for r in self.retried]


def spans_of(frames: int, actors: int, align: int = SPAN_ALIGN) -> list[tuple[int, int | None]]:
    """Where a video of `frames` frames is split for `actors` actors: (start, stop) pairs on
    multiples of `align` (veil.SPAN_ALIGN for detection, veil.PART_ALIGN for rendering), the
    last running to the end (whatever the container declared); one span (0, None) when
    splitting does not pay."""
    return video_spans(frames, min(SPANS_PER_ACTOR * actors, frames // MIN_SPAN_FRAMES),
                       align)


def _declared_frames(job: BatchJob, options: Options) -> int:
    """The frames the container declares, else its video packets (only how the spans are cut
    depends on it: the last runs to the end); 0 when the file cannot be read here (the
    actor that runs it whole will say why)."""
    try:
        return probe_video(job.src, options.limits).frames or count_packets(job.src)
    except VeilError:
        return 0


def _setup_error(exc: Exception) -> VeilError:
    """An actor that could not start: the models would not load anywhere either."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, VeilError):
        return cause
    return SetupError(f"a Ray worker could not start: {type(cause or exc).__name__}")


def _given_plan(job: BatchJob, given: PlanSet) -> Plan | None:
    """The job's plan when it may be rendered on its file; None sends the job whole to an
    actor, whose run says why not (not in the plan, made from another file)."""
    try:
        return given.for_file(job.key, job.src)
    except VeilError:
        return None


def _plans_for(job: BatchJob, given: PlanSet | None) -> PlanSet | None:
    """Only the job's own plan travels with it."""
    if given is None:
        return None
    return PlanSet(files={k: v for k, v in given.files.items() if k == job.key})
