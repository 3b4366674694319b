"""The review page, its favicon, and the liveness check."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ..._version import __version__
from ..deps import ConfigDep, StoreDep

router = APIRouter()

STATIC = files("veil.server").joinpath("static")
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@router.get("/", include_in_schema=False)
async def page() -> HTMLResponse:
    html = STATIC.joinpath("index.html").read_text()
    return HTMLResponse(html, headers={"Content-Security-Policy": PAGE_POLICY})


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    return Response(status_code=204)


@router.get("/healthz", summary="Liveness and queue length")
async def health(request: Request, store: StoreDep, config: ConfigDep) -> dict[str, Any]:
    processes = request.app.state.supervisor.processes
    return {
        "ok": True,
        "version": __version__,
        "workers": sum(p.is_alive() for p in processes),
        "active_jobs": store.count_active(),
        "api_keys_required": store.has_keys(),
    }
