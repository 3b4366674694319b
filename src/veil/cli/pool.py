"""The photos of a batch on every core: worker processes that each load the models once
(threads sharing one set of models where they run on a GPU: its batches grow with them).

Videos are not sent here: one video already keeps the cores busy (decode, detect and encode
run in threads); each runs in a process of its own (apart.py), one after another.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import time
from collections.abc import Generator, Iterator
from concurrent.futures import (
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
)
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .. import (
    BatchJob,
    FileReport,
    Models,
    Options,
    PlanSet,
    load_models,
    plan_image,
    read_input,
    remove_stale_parts,
    resolve_device,
)
from ..jobs import Plan, anonymize_one, outcome
from .apart import CRASHED

Result = tuple[FileReport, Plan | None]
# Default workers at most: each holds its models and one photo (up to --max-megapixels) in
# memory; --jobs asks for more.
DEFAULT_MOST = 8
_models: Models | None = None  # a worker's own, loaded once by _start
_started: Any = None  # a worker's view of which jobs of its round have begun (shared bytes)


def _start(profile: str, threads: int, need_models: bool, backend: str, device: str,
           started: Any = None) -> None:
    global _models, _started
    _models = load_models(profile, threads, backend, device) if need_models else None
    _started = started


def _work(position: int, job: BatchJob, options: Options, given: PlanSet | None,
          threads: int, plan_only: bool) -> Result:
    if _started is not None:
        _started[position] = 1
    if plan_only:  # `veil detect`: the plan, nothing written (a refused output is no matter)
        return outcome(job, None, lambda _: (FileReport(input=job.key),
                                             plan_image(read_input(job.src), options, _models)))
    return outcome(job, given, lambda plan: anonymize_one(job, options, plan, _models, threads))


def _stopped(job: BatchJob, exc: BaseException | None = None) -> Result:
    name = type(exc).__name__ if exc is not None else BrokenProcessPool.__name__
    error = f"internal error: the worker stopped ({name})"
    return FileReport(input=job.key, status="failed", error=error), None


class PhotoPool:
    """Runs photo jobs in this process (`here`: a batch of one photo), on threads sharing a
    GPU's models, or on a pool of processes beside this one. A process that dies (a decoder
    crashing on a hostile file) breaks its pool and every job still in it; the jobs it had
    not begun run again on a new pool, and those it had begun each run alone, so that only
    the file that crashes fails."""

    def __init__(self, options: Options, threads: int, workers: int, need_models: bool,
                 here: bool = False, plan_only: bool = False) -> None:
        self.options, self.workers, self.here = options, workers, here
        self.plan_only = plan_only
        cores = os.cpu_count() or 1
        # Inference threads per worker: the cores shared out, unless the user chose.
        self.threads = threads or (0 if workers == 1 else max(1, cores // workers))
        self.need_models = need_models
        self.threaded: ThreadPoolExecutor | None = None
        if workers > 1 and need_models and resolve_device(options.detect.device) == "cuda":
            self._load_here()
            self.threaded = ThreadPoolExecutor(workers, thread_name_prefix="veil-photo")

    def _load_here(self) -> None:
        _start(self.options.detect.profile, self.threads, self.need_models,
               self.options.detect.backend, self.options.detect.device)

    def _processes(self, workers: int, started: Any) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            # spawn: a fork would copy onnxruntime's threads in whatever state they are
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(self.options.detect.profile, self.threads, self.need_models,
                      self.options.detect.backend, self.options.detect.device, started),
        )

    def run(self, jobs: list[BatchJob], indices: list[int],
            given: PlanSet | None) -> Iterator[tuple[int, Result]]:
        """(index, result) for each job, in the order they finish."""
        todo = list(zip(indices, jobs, strict=True))
        if self.threaded is not None:
            yield from self._round(self.threaded, todo, given)
            return
        if self.here:
            if todo:
                self._load_here()
            for index, job in todo:
                yield index, _work(0, job, self.options, given, self.threads, self.plan_only)
            return
        while todo:
            started = multiprocessing.get_context("spawn").RawArray("b", len(todo))
            executor, began = self._processes(self.workers, started), time.time()
            try:
                broken = yield from self._round(executor, todo, given)
            finally:
                executor.shutdown(wait=True, cancel_futures=True)
            if broken:  # the dead worker may have been writing: its temporary file stays
                remove_stale_parts({job.dst.parent for _, job in todo}, made_since=began)
            begun = {index for position, (index, _) in enumerate(todo)
                     if index in broken and started[position]}
            if broken and not begun:  # the workers die before any job (loading the models)
                yield from ((index, _stopped(job)) for index, job in todo if index in broken)
                return
            for index, job in todo:
                if index in begun:  # the crash was one of these: each alone (its output, if
                    # it was written before the worker died, is this run's own to replace)
                    yield index, self._alone(dataclasses.replace(job, replace=True), given)
            todo = [(index, job) for index, job in todo if index in broken - begun]

    def _round(self, executor: Executor, todo: list[tuple[int, BatchJob]],
               given: PlanSet | None) -> Generator[tuple[int, Result], None, set[int]]:
        """Run `todo` on `executor`; returns the indices of the jobs a dead worker took down
        with it (its pool's other jobs included)."""
        futures: dict[Future[Result], tuple[int, BatchJob]] = {
            executor.submit(_work, position, job, self.options, given, self.threads,
                            self.plan_only): (index, job)
            for position, (index, job) in enumerate(todo)
        }
        broken: set[int] = set()
        for future in as_completed(futures):
            index, job = futures[future]
            try:
                yield index, future.result()
            except BrokenProcessPool:
                broken.add(index)
            except Exception as exc:  # noqa: BLE001 - a worker that failed fails its file only
                yield index, _stopped(job, exc)
        return broken

    def _alone(self, job: BatchJob, given: PlanSet | None) -> Result:
        """One job in a process of its own: its result, or its failure if it dies again."""
        executor, began = self._processes(1, None), time.time()
        try:
            return executor.submit(_work, 0, job, self.options, given, self.threads,
                                   self.plan_only).result()
        except BrokenProcessPool:
            remove_stale_parts({job.dst.parent}, made_since=began)
            return FileReport(input=job.key, status="failed", error=CRASHED), None
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        if self.threaded is not None:
            self.threaded.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def photo_pool(
    options: Options, threads: int, jobs: int, photos: int, files: int, need_models: bool,
    plan_only: bool = False,
) -> Iterator[PhotoPool]:
    """A pool sized for `photos` photo jobs of a batch of `files`: `jobs` workers (0: one
    per core), never more workers than photos, and none beside this process when the photo
    is the whole batch (a crash has nothing else to take down; a process would cost a second)."""
    workers = min(jobs or min(os.cpu_count() or 1, DEFAULT_MOST), max(photos, 1))
    pool = PhotoPool(options, threads, workers, need_models, here=files == 1,
                     plan_only=plan_only)
    try:
        yield pool
    finally:
        pool.close()
