"""Photos in one request: POST /v1/images answers with the anonymized photo."""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..deps import CallerDep, ConfigDep, OptionsDep, StoreDep, http_error
from ..store import Job, Store
from ..uploads import PhotoUpload
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
    key_id: CallerDep, options: OptionsDep, upload: PhotoUpload, store: StoreDep, config: ConfigDep
) -> Response:
    job = store.create(upload.kind, options.to_flat(service=True), upload.path, False, key_id)
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
