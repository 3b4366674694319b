"""Worker supervision: keep the worker processes alive, fail the job of one that dies, and
expire old results and originals."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .config import ServiceConfig
from .store import Store
from .worker import WorkerSettings, worker_main

log = logging.getLogger("veil.server")


@dataclass
class Supervisor:
    """Keeps `count` worker processes alive; fails the job of one that dies; expires results."""

    config: ServiceConfig
    processes: list[Any] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    started: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid -> (job, since)
    overdue: dict[int, str] = field(default_factory=dict)  # pid -> why it was stopped

    def start(self) -> None:
        for _ in range(self.config.worker_count()):
            self.processes.append(self._spawn())
        self.thread = threading.Thread(target=self._watch, name="veil-supervisor", daemon=True)
        self.thread.start()

    def _spawn(self) -> Any:
        settings = WorkerSettings(
            root=self.config.data_dir,
            threads=self.config.threads_per_worker(),
            result_ttl=self.config.result_ttl,
            limits=self.config.limits,
            parent_pid=os.getpid(),
            memory_mb=self.config.job_memory_mb,
            ray=self.config.ray,
        )
        # Few malloc arenas: the memory cap then measures data, not per-thread reservations.
        os.environ.setdefault("MALLOC_ARENA_MAX", "2")
        process = multiprocessing.get_context("spawn").Process(
            target=worker_main, args=(settings,), name="veil-worker", daemon=True
        )
        process.start()
        return process

    def _watch(self) -> None:
        store = Store(self.config.data_dir)
        next_housekeeping = 0.0
        while not self.stopping.wait(0.2):
            for i, process in enumerate(self.processes):
                if self.stopping.is_set():
                    break
                if process.is_alive():
                    self._enforce_time_limit(store, process)
                    continue
                reason = self.overdue.pop(process.pid, None) or (
                    "processing this file stopped the worker (the file was discarded)"
                )
                for job in store.running_on(process.pid):
                    store.fail_job(job, reason, "crash", self.config.result_ttl)
                    log.warning("job %s failed: worker exited with %s", job.id, process.exitcode)
                self.processes[i] = self._spawn()
            if time.monotonic() >= next_housekeeping:
                removed = store.expire(self.config.review_ttl)
                if removed:
                    log.info("expired %d results or originals", removed)
                next_housekeeping = time.monotonic() + self.config.housekeeping_every
        store.close()

    def _enforce_time_limit(self, store: Store, process: Any) -> None:
        """Stop a worker that has spent longer than the job time limit on one job."""
        jobs = store.running_on(process.pid)
        if not jobs:
            self.started.pop(process.pid, None)
            return
        seen = self.started.get(process.pid)
        if seen is None or seen[0] != jobs[0].id:
            self.started[process.pid] = (jobs[0].id, time.monotonic())
        elif time.monotonic() - seen[1] > self.config.job_timeout:
            self.overdue[process.pid] = (
                f"processing this file took longer than the {self.config.job_timeout:g} s "
                "job time limit (the file was discarded)"
            )
            process.kill()

    def stop(self) -> None:
        self.stopping.set()
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.kill()
        if self.thread is not None:
            self.thread.join(5)
