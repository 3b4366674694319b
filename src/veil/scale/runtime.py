"""Connecting to a Ray cluster, or starting a Ray runtime here, with one-line errors."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from .. import SetupError

CONNECT_TIMEOUT_S = 10.0


@contextlib.contextmanager
def ray_runtime(address: str | None) -> Iterator[dict[str, Any]]:
    """Connected to the cluster at `address` (None: RAY_ADDRESS, else a runtime started
    here, ended with the block); yields what the report says about it."""
    info = connect(address)
    try:
        yield info
    finally:
        import ray

        ray.shutdown()


def connect(address: str | None) -> dict[str, Any]:
    """Connect this process to the cluster at `address` (see ray_runtime) for good; returns
    its address, live nodes and CPUs. SetupError, in one line, when that cannot be done."""
    _importable()
    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        _reachable(address)
    # Only while connecting: a runtime started here would keep the file as its stderr.
    kept: contextlib.AbstractContextManager[list[str]] = (
        _stderr_kept() if address is not None else contextlib.nullcontext([]))
    with kept as said, _sigterm_kept():
        try:
            ray.init(address=address, logging_level=logging.ERROR,
                     log_to_driver=False, include_dashboard=False, configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            failure: str | None = str(exc).splitlines()[0]
        else:
            failure = None
    if failure is not None:
        if "InvalidAuthToken" in "".join(said):
            raise SetupError(f"--ray: the cluster at {address} asks for Ray's token: set "
                             "RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN, or "
                             "~/.ray/auth_token) for veil as for the cluster")
        raise SetupError(f"--ray: could not reach a Ray cluster at {address}: {failure}")
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return {"address": ray.get_runtime_context().gcs_address, "nodes": len(nodes),
            "cpus": cluster_cpus()}


@contextlib.contextmanager
def _sigterm_kept() -> Iterator[None]:
    """ray.init replaces the process's SIGTERM handler with its own (sys.exit(15), after its
    core prints a stack): the caller's is put back, so that `veil --ray` stopped by `kill`
    still removes its temporary files and says so in one line, and the service still stops
    as it should."""
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if handler is not None:
            signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def _stderr_kept() -> Iterator[list[str]]:
    """Ray's core writes its retries to file descriptor 2 while it connects (a line a
    second): kept aside, so that a failure is said in one line; the list gets what was
    written when the block ends."""
    sys.stderr.flush()
    said: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile() as kept:
        os.dup2(kept.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            kept.seek(0)
            said.append(kept.read().decode(errors="replace"))


def cluster_for_workers(address: str) -> str:
    """The address worker processes should connect to: `address` or RAY_ADDRESS once it
    answers, else that of a Ray runtime started now in this process (it ends with it).
    SetupError when Ray is missing or nothing answers."""
    address = address or os.environ.get("RAY_ADDRESS") or ""
    if address:
        _importable()
        _reachable(address)
        return address
    return str(connect(None)["address"])


def _importable() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SetupError("--ray needs Ray: pip install 'veil[ray]'") from None


def cluster_cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


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
