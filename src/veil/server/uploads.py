"""Receiving an upload: the caller's rate, the queue, the format sniffed from its bytes, and
a copy inside the data directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, File, UploadFile
from starlette.concurrency import run_in_threadpool

from .. import formats
from .config import ServiceConfig
from .deps import CallerDep, ConfigDep, LimiterDep, StoreDep, http_error
from .ratelimit import RateLimiter
from .store import Store


@dataclass(frozen=True)
class Upload:
    """A received upload: its media kind and the file inside the data directory."""

    kind: str  # image | video
    path: Path


async def receive(
    upload: UploadFile,
    key_id: int | None,
    kinds: tuple[str, ...],
    store: Store,
    config: ServiceConfig,
    limiter: RateLimiter,
) -> Upload:
    """Check the caller's rate and the queue, sniff the bytes, and copy the upload into the
    data directory."""
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
    return Upload(sniffed.kind, Path(name))


def _receiver(kinds: tuple[str, ...]) -> Callable[..., AsyncIterator[Upload]]:
    async def dependency(
        file: Annotated[UploadFile, File()],
        key_id: CallerDep,
        store: StoreDep,
        config: ConfigDep,
        limiter: LimiterDep,
    ) -> AsyncIterator[Upload]:
        upload = await receive(file, key_id, kinds, store, config, limiter)
        try:
            yield upload
        finally:
            # A job moves the file into originals/; if the request failed first (a bad
            # option, say), nothing must stay behind.
            upload.path.unlink(missing_ok=True)

    return dependency


# What a route names to receive a photo, or a photo or a video.
PhotoUpload = Annotated[Upload, Depends(_receiver(("image",)))]
MediaUpload = Annotated[Upload, Depends(_receiver(("image", "video")))]
