"""Answers for errors (one line, never a trace) and the request log (no ids, no addresses).

Every error is a JSON object {"detail": "<one line>"}; bad input gets a 4xx, never a 500 or
a stack trace. Nothing logged names a file, a client address or image content.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

log = logging.getLogger("veil.server")


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
    return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}"}, 422)


def _deadline_error(exc: BaseException) -> HTTPException | None:
    """The upload deadline's 408, if FastAPI's body parser wrapped it (in a 400, around an
    exception group from Starlette's task group)."""
    seen: list[BaseException] = [exc]
    while seen:
        item = seen.pop()
        if isinstance(item, HTTPException) and item.status_code == 408:
            return item
        inner = getattr(item, "exceptions", None)  # an exception group's members
        if isinstance(inner, list | tuple):
            seen.extend(e for e in inner if isinstance(e, BaseException))
        seen.extend(e for e in (item.__cause__, item.__context__) if e is not None)
    return None


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        exc = _deadline_error(exc) or exc
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 400 and isinstance(exc.__cause__, Exception):
        detail = "the request body is not a valid multipart form"
    return JSONResponse({"detail": detail}, exc.status_code, headers=exc.headers)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("internal error: %s", type(exc).__name__)
    return JSONResponse({"detail": "internal error"}, 500)


async def log_request(request: Request, call_next: Any) -> Response:
    """Log method, route template, status and time; set the headers every answer carries."""
    started = time.perf_counter()
    response: Response = await call_next(request)
    route = request.scope.get("route")
    path = getattr(route, "path", "-")  # the route's template: no ids, no client address
    elapsed = (time.perf_counter() - started) * 1000
    log.info("%s %s %d %.0f ms", request.method, path, response.status_code, elapsed)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.url.path.startswith("/v1/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def install(app: FastAPI) -> None:
    """Attach the error answers and the request log to `app`."""
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
    app.middleware("http")(log_request)
