"""Receiving an upload: the caller's rate, the queue, the format sniffed from its bytes, and
a copy inside the data directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from .. import formats
from .config import ServiceConfig
from .deps import http_error
from .ratelimit import RateLimiter
from .store import Store


async def receive(
    upload: UploadFile,
    key_id: int | None,
    kinds: tuple[str, ...],
    store: Store,
    config: ServiceConfig,
    limiter: RateLimiter,
) -> tuple[str, Path]:
    """Check the caller's rate and the queue, sniff the bytes, and copy the upload into the
    data directory. Returns the media kind and the received file."""
    wait = limiter.take(key_id)
    if wait:
        raise http_error(
            429, "rate limit reached; retry later", {"Retry-After": str(int(wait) + 1)}
        )
    if store.count_active() >= config.max_queue:
        raise http_error(503, "the service is busy; retry later", {"Retry-After": "5"})
    sniffed = formats.sniff(await upload.read(formats.HEAD_BYTES))
    if sniffed is None:
        raise http_error(415, f"not a file veil reads: it takes {formats.accepted()}")
    if sniffed.kind not in kinds:
        raise http_error(415, "this endpoint takes photos; send videos to POST /v1/jobs")
    await upload.seek(0)
    fd, name = tempfile.mkstemp(dir=store.tmp, prefix="upload-")

    def copy() -> None:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(upload.file, out, 1 << 20)

    try:
        await run_in_threadpool(copy)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    finally:
        await upload.close()
    return sniffed.kind, Path(name)
