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
        )
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
                if process.is_alive() or self.stopping.is_set():
                    continue
                for job in store.running_on(process.pid):
                    store.fail(
                        job.id,
                        "processing this file stopped the worker (the file was discarded)",
                        "crash",
                        self.config.result_ttl,
                    )
                    log.warning("job %s failed: worker exited with %s", job.id, process.exitcode)
                self.processes[i] = self._spawn()
            if time.monotonic() >= next_housekeeping:
                removed = store.expire(self.config.review_ttl)
                if removed:
                    log.info("expired %d results or originals", removed)
                next_housekeeping = time.monotonic() + self.config.housekeeping_every
        store.close()

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
