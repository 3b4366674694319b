"""The service's settings (what `veil serve` flags set), with their defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..options import Limits

HOUR = 3600.0


@dataclass
class ServiceConfig:
    data_dir: Path
    workers: int = 0  # 0: one per core, at most 4
    result_ttl: float = 24 * HOUR
    review_ttl: float = 1 * HOUR  # how long a review may keep an original after its job ends
    max_upload_bytes: int = 200 * 1024 * 1024
    # The operator's limits; a client cannot raise them.
    limits: Limits = field(default_factory=Limits)
    max_queue: int = 256
    rate_limit: int = 0  # uploads per minute per API key (or for all callers without keys); 0: off
    sync_timeout: float = 300.0
    # Per job: a worker past this many seconds on one job is stopped and the job failed;
    # a worker's data memory (heap and mappings, models included: about 0.7 GB) is capped.
    job_timeout: float = 600.0
    job_memory_mb: int = 3072
    # An upload must arrive whole within this many seconds (a client that trickles its body
    # holds a connection and a spool file).
    upload_timeout: float = 300.0
    housekeeping_every: float = 10.0
    # `--ray ADDRESS`: workers hand the engine's work to this Ray cluster ("": RAY_ADDRESS,
    # else a Ray runtime started here); None: they run it themselves.
    ray: str | None = None

    def __post_init__(self) -> None:
        # Check often enough that nothing outlives its time by more than a quarter of it.
        self.housekeeping_every = max(
            0.5, min(self.housekeeping_every, self.result_ttl / 4, self.review_ttl / 4)
        )

    def worker_count(self) -> int:
        return self.workers or max(1, min(os.cpu_count() or 1, 4))

    def threads_per_worker(self) -> int:
        return max(1, (os.cpu_count() or 1) // self.worker_count())
