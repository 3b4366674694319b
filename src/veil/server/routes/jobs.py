"""Jobs: queue a photo or a video, follow it, fetch its result, report and plan, edit the
plan and render again, end a review, delete."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from ... import Options, VeilError, VideoPlan, parse_plan_json, plan_from_json, preview_image
from ...media.files import file_sha256, write_atomic
from ..deps import CallerDep, ConfigDep, OptionsDep, OwnedJob, StoreDep, http_error
from ..store import Job
from ..uploads import MediaUpload

log = logging.getLogger("veil.server")
router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def failure_status(job: Job) -> int:
    # The file's fault (unreadable, hostile, refused by a check): 422. Ours: 500, one line.
    return 500 if job.error_kind == "internal" else 422


def describe(job: Job) -> dict[str, Any]:
    """A job as the API shows it: its state and where to find its parts."""
    base = f"/v1/jobs/{job.id}"
    links = {part: f"{base}/{part}" for part in ("result", "report", "plan")}
    return {**job.public(), "links": {"self": base, **links}}


def ready(job: Job) -> None:
    """Raise the right answer unless the job's result is there to fetch."""
    if job.state == "expired":
        raise http_error(410, "the result has expired and was deleted")
    if job.state == "failed":
        raise http_error(failure_status(job), job.error or "failed")
    if job.state != "done":
        raise http_error(409, f"not ready: the job is {job.state}")


def idle(job: Job) -> None:
    if job.state in ("queued", "running"):
        raise http_error(409, f"the job is {job.state}; wait for it to finish")


@router.post("", status_code=202, summary="Queue a photo or a video")
async def post_job(
    key_id: CallerDep,
    options: OptionsDep,
    upload: MediaUpload,
    store: StoreDep,
    review: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """`review=true` keeps the original (for plan edits) until POST .../finish, DELETE,
    or the review window ends; otherwise it is deleted as soon as the job ends."""
    job = store.create(upload.kind, options.to_flat(service=True), upload.path, review, key_id)
    log.info("job %s %s queued", job.id, upload.kind)
    return describe(job)


@router.get("/{job_id}", summary="A job's state and progress")
async def get_job(job: OwnedJob) -> dict[str, Any]:
    return describe(job)


@router.get(
    "/{job_id}/result",
    summary="The anonymized file",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "video/mp4": {}}}},
)
async def get_result(job: OwnedJob, store: StoreDep) -> FileResponse:
    ready(job)
    return FileResponse(
        store.result_path(job),
        media_type=job.result_type,
        filename=f"veiled.{job.result_ext}",
        content_disposition_type="attachment",
    )


@router.get(
    "/{job_id}/preview",
    summary="A photo's result as a JPEG any browser shows",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def get_preview(job: OwnedJob, store: StoreDep, config: ConfigDep) -> Response:
    """The result's first frame, at most 2560 px a side: for a result written in a format
    browsers do not show (TIFF). Of the result only: an original is never sent back."""
    ready(job)
    if job.kind != "image":
        raise http_error(404, "only a photo's result has a preview")
    try:
        data = preview_image(store.result_path(job), Options(limits=config.limits))
    except VeilError as exc:  # pragma: no cover - veil wrote the result and read it back
        raise http_error(500, f"the result cannot be shown: {exc}") from exc
    return Response(data, media_type="image/jpeg")


@router.get("/{job_id}/report", summary="What was found and removed (JSON)")
async def get_report(job: OwnedJob, store: StoreDep) -> Any:
    if job.state == "failed":
        return {"status": "error", "error": job.error}
    ready(job)
    return json.loads(store.report_path(job.id).read_text())


@router.get("/{job_id}/plan", summary="The mask plan (regions or tracks, JSON)")
async def get_plan(job: OwnedJob, store: StoreDep) -> Any:
    ready(job)
    return json.loads(store.plan_path(job.id).read_text())


@router.put("/{job_id}/plan", status_code=202, summary="Render an edited plan")
async def put_plan(job: OwnedJob, store: StoreDep, request: Request) -> dict[str, Any]:
    """Queues a re-render of the original with this plan; nothing is detected again.
    Needs a job submitted with review=true whose review is still open."""
    idle(job)
    if not job.has_original:
        raise http_error(
            409,
            "the original is gone (deleted when the job ended, or the review closed); "
            "submit it again with review=true to edit its plan",
        )
    current = json.loads(store.plan_path(job.id).read_text())
    try:
        data = parse_plan_json(await request.body())
        marked = isinstance(data, dict) and isinstance(data.get("sha256"), str)
        # hashing an original (a video: gigabytes) off the event loop, and only when asked
        original = await run_in_threadpool(file_sha256, store.original_path(job.id)) if (
            marked) else None
        _check_made_for(job, data, current, original)  # first: a plan for another file says so
        plan = plan_from_json(data)
    except VeilError as exc:
        raise http_error(422, str(exc)) from exc
    if isinstance(plan, VideoPlan) and plan.frames != current["frames"]:
        raise http_error(422, "the plan's frame count differs from this video's")
    write_atomic(store.plan_next_path(job.id), json.dumps(plan.to_json()).encode())
    store.requeue_for_render(job.id)
    return describe(store.get(job.id) or job)


def _check_made_for(job: Job, data: Any, current: dict[str, Any], original: str | None) -> None:
    """An edited plan must be for this job's medium and size, and, when it says which file
    it was made from (a plan file's sha256), for this job's original (its digest: `original`)
    (checked before the plan's own fields, so that a plan for another file gets that
    reason)."""
    if not isinstance(data, dict):
        return  # plan_from_json says what is wrong with it
    if original is not None and data.get("sha256") != original:
        raise VeilError("the plan was made from another file (its sha256 differs)")
    if (data.get("media") == "video") != (job.kind == "video"):
        raise VeilError(f"this job needs a {job.kind} plan")
    size = data.get("width"), data.get("height")
    whole = all(isinstance(v, int) and not isinstance(v, bool) for v in size)
    if whole and size != (current["width"], current["height"]):
        raise VeilError("the plan's width and height differ from this file's")


@router.post("/{job_id}/finish", summary="End a review: delete the original now")
async def finish_review(job: OwnedJob, store: StoreDep) -> dict[str, Any]:
    idle(job)
    store.drop_original(job.id)
    return describe(store.get(job.id) or job)


@router.delete("/{job_id}", status_code=204, summary="Delete a job and all its files")
async def delete_job(job: OwnedJob, store: StoreDep) -> Response:
    store.delete(job.id)
    return Response(status_code=204)
