"""Start the real `veil serve` in a subprocess on 127.0.0.1 and talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from conftest import VEIL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    process: subprocess.Popen
    url: str
    data_dir: Path
    log: Path

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120, headers=headers)

    def log_text(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        """SIGKILL, as a crash or a power cut would stop it."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def originals(self) -> list[str]:
        return sorted(p.name for p in (self.data_dir / "originals").iterdir())

    def worker_of(self, job_id: str) -> int | None:
        with sqlite3.connect(self.data_dir / "jobs.sqlite3") as db:
            row = db.execute("SELECT worker FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row else None


def start_service(data_dir: Path, *args: str, wait_workers: bool = True) -> Service:
    """`veil serve` on a free port; returns once it answers (and its workers are up)."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"{data_dir.name}.{port}.log"
    fh = log.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            VEIL,
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            *args,
        ],
        stdout=fh,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    service = Service(process, f"http://127.0.0.1:{port}", data_dir, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"veil serve exited: {log.read_text()[-2000:]}")
        try:
            health = httpx.get(service.url + "/healthz", timeout=2).json()
            if not wait_workers or health["workers"] > 0:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    service.kill()
    raise RuntimeError("veil serve did not start in 120 s")


def wait_job(client: httpx.Client, job_id: str, timeout: float = 180) -> dict[str, Any]:
    """Poll a job until it is done, failed or expired."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "expired"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not finished in {timeout} s")


def wait_state(client: httpx.Client, job_id: str, state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get(f"/v1/jobs/{job_id}").json()["state"] == state:
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never {state}")
