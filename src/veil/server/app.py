"""The HTTP API and the review page, on FastAPI: create_app wires the service's parts.

Routes live in routes/ (one router per resource), their dependencies in deps.py, error
answers and the request log in handlers.py, worker supervision in supervisor.py and the
rate limiter in ratelimit.py. Work happens in worker processes (worker.py).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .._version import __version__
from . import handlers
from .config import HOUR, ServiceConfig
from .deadline import UploadDeadline
from .ratelimit import RateLimiter
from .routes import images, jobs, page
from .store import Store
from .supervisor import Supervisor

__all__ = ["HOUR", "ServiceConfig", "create_app"]

log = logging.getLogger("veil.server")

DESCRIPTION = (
    "Cover every face in photos and videos irreversibly and remove identifying metadata. "
    "Photos: POST /v1/images (answer in the response). Photos and videos: POST /v1/jobs, "
    'then follow GET /v1/jobs/{id}. Errors are {"detail": one line}.'
)


def create_app(config: ServiceConfig) -> FastAPI:
    """The service: API under /v1, the review page at /, OpenAPI at /docs and /openapi.json."""
    config.data_dir = Path(config.data_dir).resolve()
    store = Store(config.data_dir)
    # Uploads are spooled by the multipart parser; keep them inside the data directory (not
    # /tmp), where a restart's cleanup finds whatever an interrupted request left.
    tempfile.tempdir = str(store.tmp)
    supervisor = Supervisor(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        counts = store.recover(config.result_ttl)
        if any(counts.values()):
            log.info("recovered after restart: %s", counts)
        supervisor.start()
        log.info("veil %s serving with %d workers", __version__, config.worker_count())
        try:
            yield
        finally:
            supervisor.stop()

    app = FastAPI(
        title="veil",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        max_body_size=config.max_upload_bytes,
    )
    app.state.config = config
    app.state.store = store
    app.state.limiter = RateLimiter(config.rate_limit)
    app.state.supervisor = supervisor
    app.mount("/static", StaticFiles(directory=str(page.STATIC)), name="static")
    handlers.install(app)
    app.add_middleware(UploadDeadline, seconds=config.upload_timeout)
    for module in (page, images, jobs):
        app.include_router(module.router)
    return app
