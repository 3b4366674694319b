"""Photos in one request: POST /v1/images answers with the anonymized photo."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..deps import CallerDep, ConfigDep, LimiterDep, OptionsDep, StoreDep, http_error
from ..store import Job, Store
from ..uploads import receive
from .jobs import failure_status

router = APIRouter(prefix="/v1/images", tags=["photos"])


@router.post(
    "",
    summary="Anonymize one photo; the result is the response body",
    response_class=Response,
    responses={
        200: {
            "content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
            "description": "The anonymized photo. X-Veil-Report names the JSON report.",
        },
        415: {"description": "not a photo"},
        422: {"description": "a photo veil cannot read or refuses (reason in detail)"},
    },
)
async def post_image(
    key_id: CallerDep,
    options: OptionsDep,
    file: Annotated[UploadFile, File()],
    store: StoreDep,
    config: ConfigDep,
    limiter: LimiterDep,
) -> Response:
    kind, received = await receive(file, key_id, ("image",), store, config, limiter)
    job = store.create(kind, options.to_flat(service=True), received, review=False, key_id=key_id)
    done = await _wait(store, job.id, time.monotonic() + config.sync_timeout)
    report = json.loads(store.report_path(job.id).read_text())
    return Response(
        await run_in_threadpool(store.result_path(done).read_bytes),
        media_type=done.result_type,
        headers={
            "X-Veil-Job": job.id,
            "X-Veil-Report": f"/v1/jobs/{job.id}/report",
            "X-Veil-Faces": str(len(report.get("faces", []))),
            "Content-Disposition": f'inline; filename="veiled.{done.result_ext}"',
        },
    )


async def _wait(store: Store, job_id: str, deadline: float) -> Job:
    """The job once a worker has done it; the failure's answer if it failed."""
    while True:
        await asyncio.sleep(0.01)
        current = store.get(job_id)
        if current is None:
            raise http_error(410, "the job was deleted")
        if current.state == "done":
            return current
        if current.state == "failed":
            raise http_error(failure_status(current), current.error or "failed")
        if time.monotonic() > deadline:
            raise http_error(504, f"not done in time; follow /v1/jobs/{job_id}")
