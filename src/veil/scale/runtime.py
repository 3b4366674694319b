"""Connecting to a Ray cluster, or starting a Ray runtime here, with one-line errors."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

from .. import SetupError

CONNECT_TIMEOUT_S = 10.0


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
