"""Uploads that stall are cut off: a request body must arrive within the upload time limit,
with no pause longer than IDLE_S, or the request is answered 408 and its connection closed.

Without it, a client sending a byte a second holds a connection and a spool file for as
long as it likes (uvicorn limits the wait for a request, not for its body).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import HTTPException

IDLE_S = 30.0
STALLED = "the upload stalled or took too long; send it again"

Message = dict[str, Any]


class UploadDeadline:
    """Pure ASGI middleware: wraps `receive` with the deadline (streams nothing into memory)."""

    def __init__(self, app: Any, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        body_done = False

        async def receive_in_time() -> Message:
            nonlocal body_done
            if body_done:  # after the body, receive only waits for a disconnect: no limit
                return await receive()
            wait = min(IDLE_S, deadline - loop.time())
            try:
                if wait <= 0:
                    raise TimeoutError
                message: Message = await asyncio.wait_for(receive(), wait)
            except TimeoutError as exc:
                raise HTTPException(408, STALLED) from exc
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        await self.app(scope, receive_in_time, send)
