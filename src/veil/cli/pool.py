"""The photos of a batch on every core: worker processes that each load the models once
(threads sharing one set of models where they run on a GPU: its batches grow with them).

Videos are not sent here: one video already keeps the cores busy (decode, detect and encode
run in threads), and its frame bars need the terminal.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import (
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
)

from .. import BatchJob, FileReport, Models, Options, PlanSet, load_models, resolve_device
from ..jobs import Plan, anonymize_one, outcome

Result = tuple[FileReport, Plan | None]
# Default workers at most: each holds its models and one photo (up to --max-megapixels) in
# memory; --jobs asks for more.
DEFAULT_MOST = 8
_models: Models | None = None  # a worker's own, loaded once by _start


def _start(profile: str, threads: int, need_models: bool, backend: str, device: str) -> None:
    global _models
    _models = load_models(profile, threads, backend, device) if need_models else None


def _work(job: BatchJob, options: Options, given: PlanSet | None, threads: int) -> Result:
    return outcome(job, given, lambda plan: anonymize_one(job, options, plan, _models, threads))


class PhotoPool:
    """Runs photo jobs in this process (one worker) or on a process pool."""

    def __init__(self, options: Options, threads: int, workers: int, need_models: bool) -> None:
        self.options, self.workers = options, workers
        cores = os.cpu_count() or 1
        # Inference threads per worker: the cores shared out, unless the user chose.
        self.threads = threads or (0 if workers == 1 else max(1, cores // workers))
        self.need_models = need_models
        self.executor: Executor | None = None
        if workers > 1 and need_models and resolve_device(options.detect.device) == "cuda":
            _start(options.detect.profile, self.threads, need_models, options.detect.backend,
                   options.detect.device)
            self.executor = ThreadPoolExecutor(workers, thread_name_prefix="veil-photo")
        elif workers > 1:
            self.executor = ProcessPoolExecutor(
                max_workers=workers,
                # spawn: a fork would copy onnxruntime's threads in whatever state they are
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(options.detect.profile, self.threads, need_models,
                          options.detect.backend, options.detect.device),
            )

    def run(self, jobs: list[BatchJob], indices: list[int],
            given: PlanSet | None) -> Iterator[tuple[int, Result]]:
        """(index, result) for each job, in the order they finish."""
        if self.executor is None:
            if jobs:
                _start(self.options.detect.profile, self.threads, self.need_models,
                       self.options.detect.backend, self.options.detect.device)
            for index, job in zip(indices, jobs, strict=True):
                yield index, _work(job, self.options, given, self.threads)
            return
        futures: dict[Future[Result], tuple[int, BatchJob]] = {
            self.executor.submit(_work, job, self.options, given, self.threads): (index, job)
            for index, job in zip(indices, jobs, strict=True)
        }
        for future in as_completed(futures):
            index, job = futures[future]
            try:
                yield index, future.result()
            except Exception as exc:  # noqa: BLE001 - a worker that died fails its file only
                error = f"internal error: the worker stopped ({type(exc).__name__})"
                yield index, (FileReport(input=job.key, status="failed", error=error), None)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def photo_pool(
    options: Options, threads: int, jobs: int, photos: int, need_models: bool
) -> Iterator[PhotoPool]:
    """A pool sized for `photos` photo jobs: `jobs` workers (0: one per core), never more
    workers than photos, and none beside this process for one photo."""
    workers = min(jobs or min(os.cpu_count() or 1, DEFAULT_MOST), max(photos, 1))
    pool = PhotoPool(options, threads, workers, need_models)
    try:
        yield pool
    finally:
        pool.close()
