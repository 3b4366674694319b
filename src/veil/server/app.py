"""The HTTP API and the review page, on FastAPI. Work happens in worker processes.

Every error is a JSON object {"detail": "<one line>"}; bad input gets a 4xx, never a 500 or
a stack trace. Nothing logged names a file, a client address or image content.
"""

import asyncio
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Form, Header, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import ImageColor
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .. import __version__
from ..errors import VeilError
from ..masks import DEFAULT_MARGIN
from ..media.image import DEFAULT_MAX_PIXELS
from ..plan import ImagePlan, VideoPlan, plan_from_json
from ..profiles import DEFAULT_MIN_FACE, DEFAULT_PROFILE
from .sniff import HEAD_BYTES, SUPPORTED, sniff
from .store import Job, Store
from .worker import WorkerSettings, worker_main

log = logging.getLogger("veil.server")

HOUR = 3600.0


@dataclass
class ServiceConfig:
    data_dir: Path
    workers: int = 0  # 0: one per core, at most 4
    result_ttl: float = 24 * HOUR
    review_ttl: float = 1 * HOUR  # how long a review may keep an original after its job ends
    max_upload_bytes: int = 200 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_queue: int = 256
    rate_limit: int = 0  # uploads per minute per API key (or for all callers without keys); 0: off
    sync_timeout: float = 300.0
    housekeeping_every: float = 10.0

    def __post_init__(self) -> None:
        # Check often enough that nothing outlives its time by more than a quarter of it.
        self.housekeeping_every = max(
            0.5, min(self.housekeeping_every, self.result_ttl / 4, self.review_ttl / 4)
        )

    def worker_count(self) -> int:
        return self.workers or max(1, min(os.cpu_count() or 1, 4))

    def threads_per_worker(self) -> int:
        return max(1, (os.cpu_count() or 1) // self.worker_count())


class RateLimiter:
    """A token bucket per key: `per_minute` uploads a minute, bursts up to that many."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.buckets: dict[int | None, tuple[float, float]] = {}

    def take(self, key: int | None) -> float:
        """0 when allowed, else the seconds until the next upload is."""
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic()
        tokens, then = self.buckets.get(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - then) * self.per_minute / 60)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            return (1 - tokens) * 60 / self.per_minute
        self.buckets[key] = (tokens - 1, now)
        return 0.0


@dataclass
class Supervisor:
    """Keeps `count` worker processes alive; fails the job of one that dies; expires results."""

    config: ServiceConfig
    processes: list[Any] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        for _ in range(self.config.worker_count()):
            self.processes.append(self._spawn())
        self.thread = threading.Thread(target=self._watch, name="veil-supervisor", daemon=True)
        self.thread.start()

    def _spawn(self) -> Any:
        settings = WorkerSettings(
            root=self.config.data_dir,
            threads=self.config.threads_per_worker(),
            result_ttl=self.config.result_ttl,
            max_pixels=self.config.max_pixels,
            parent_pid=os.getpid(),
        )
        process = multiprocessing.get_context("spawn").Process(
            target=worker_main, args=(settings,), name="veil-worker", daemon=True
        )
        process.start()
        return process

    def _watch(self) -> None:
        store = Store(self.config.data_dir)
        next_housekeeping = 0.0
        while not self.stopping.wait(0.2):
            for i, process in enumerate(self.processes):
                if process.is_alive() or self.stopping.is_set():
                    continue
                for job in store.running_on(process.pid):
                    store.fail(
                        job.id,
                        "processing this file stopped the worker (the file was discarded)",
                        "crash",
                        self.config.result_ttl,
                    )
                    log.warning("job %s failed: worker exited with %s", job.id, process.exitcode)
                self.processes[i] = self._spawn()
            if time.monotonic() >= next_housekeeping:
                removed = store.expire(self.config.review_ttl)
                if removed:
                    log.info("expired %d results or originals", removed)
                next_housekeeping = time.monotonic() + self.config.housekeeping_every
        store.close()

    def stop(self) -> None:
        self.stopping.set()
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.kill()
        if self.thread is not None:
            self.thread.join(5)


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=detail, headers=headers)


def create_app(config: ServiceConfig) -> FastAPI:
    """The service: API under /v1, the review page at /, OpenAPI at /docs and /openapi.json."""
    config.data_dir = Path(config.data_dir).resolve()
    store = Store(config.data_dir)
    # Uploads are spooled by the multipart parser; keep them inside the data directory (not
    # /tmp), where a restart's cleanup finds whatever an interrupted request left.
    tempfile.tempdir = str(store.tmp)
    limiter = RateLimiter(config.rate_limit)
    supervisor = Supervisor(config)
    static = files("veil.server").joinpath("static")

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
        description="Cover every face in photos and videos irreversibly and remove identifying "
        "metadata. Photos: POST /v1/images (answer in the response). Photos and videos: "
        'POST /v1/jobs, then follow GET /v1/jobs/{id}. Errors are {"detail": one line}.',
        lifespan=lifespan,
        max_body_size=config.max_upload_bytes,
    )
    app.state.store = store
    app.state.supervisor = supervisor
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    # --- errors: one line, no traces -------------------------------------------------------

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}"}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 400 and isinstance(exc.__cause__, Exception):
            detail = "the request body is not a valid multipart form"
        return JSONResponse({"detail": detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s", type(exc).__name__)
        return JSONResponse({"detail": "internal error"}, 500)

    @app.middleware("http")
    async def log_requests(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "-")  # the route's template: no ids, no client address
        log.info(
            "%s %s %d %.0f ms",
            request.method,
            path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.url.path.startswith("/v1/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    # --- callers ---------------------------------------------------------------------------

    async def caller(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> int | None:
        """The API key's id, when the service has keys (none configured: open)."""
        if not store.has_keys():
            return None
        key = x_api_key
        if key is None and authorization and authorization.lower().startswith("bearer "):
            key = authorization[7:].strip()
        key_id = store.key_id(key) if key else None
        if key_id is None:
            raise _error(401, "an API key is required (Authorization: Bearer KEY or X-API-Key)")
        return key_id

    Caller = Annotated[int | None, Depends(caller)]

    def owned(job_id: str, key_id: int | None) -> Job:
        job = store.get(job_id)
        if job is None or (store.has_keys() and job.key_id != key_id):
            raise _error(404, "no such job")
        return job

    @dataclass
    class JobOptions:
        mask: str
        shape: str
        margin: float
        color: list[int]
        format: str | None
        profile: str
        audit: bool
        strict: bool
        audio: str
        min_face: float

    def job_options(
        mask: Annotated[Literal["solid", "mosaic", "blur"], Form()] = "solid",
        shape: Annotated[Literal["ellipse", "box"], Form()] = "ellipse",
        margin: Annotated[float, Form(ge=0, le=3)] = DEFAULT_MARGIN,
        color: Annotated[str, Form(max_length=40)] = "black",
        format: Annotated[Literal["jpg", "png", "webp"] | None, Form()] = None,
        profile: Annotated[Literal["fast", "balanced", "thorough"], Form()] = DEFAULT_PROFILE,  # type: ignore[assignment]
        audit: Annotated[bool, Form()] = True,
        strict: Annotated[bool, Form()] = False,
        audio: Annotated[Literal["copy", "drop"], Form()] = "copy",
        min_face: Annotated[float, Form(ge=1, le=1000)] = DEFAULT_MIN_FACE,
    ) -> JobOptions:
        try:
            rgb = list(ImageColor.getrgb(color)[:3])
        except ValueError as exc:
            raise _error(422, f"color: not a colour: {color!r}") from exc
        return JobOptions(mask, shape, margin, rgb, format, profile, audit, strict, audio, min_face)

    Options = Annotated[JobOptions, Depends(job_options)]

    async def receive(
        upload: UploadFile, key_id: int | None, kinds: tuple[str, ...]
    ) -> tuple[str, Path]:
        """Check the caller's rate and the queue, sniff the bytes, and copy the upload into
        the data directory. Returns the media kind and the received file."""
        wait = limiter.take(key_id)
        if wait:
            raise _error(
                429, "rate limit reached; retry later", {"Retry-After": str(int(wait) + 1)}
            )
        if store.count_active() >= config.max_queue:
            raise _error(503, "the service is busy; retry later", {"Retry-After": "5"})
        head = await upload.read(HEAD_BYTES)
        sniffed = sniff(head)
        if sniffed is None:
            raise _error(415, f"not a file veil reads: it takes {SUPPORTED}")
        if sniffed.kind not in kinds:
            raise _error(415, "this endpoint takes photos; send videos to POST /v1/jobs")
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

    def describe(job: Job) -> dict[str, Any]:
        """A job as the API shows it: its state and where to find its parts."""
        base = f"/v1/jobs/{job.id}"
        links = {part: f"{base}/{part}" for part in ("result", "report", "plan")}
        return {**job.public(), "links": {"self": base, **links}}

    # --- the page --------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        html = static.joinpath("index.html").read_text()
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                "media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
                "frame-ancestors 'none'",
            },
        )

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/healthz", summary="Liveness and queue length")
    async def health() -> dict[str, Any]:
        return {
            "ok": True,
            "version": __version__,
            "workers": sum(p.is_alive() for p in supervisor.processes),
            "active_jobs": store.count_active(),
            "api_keys_required": store.has_keys(),
        }

    # --- photos in one request -------------------------------------------------------------

    @app.post(
        "/v1/images",
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
        key_id: Caller, options: Options, file: Annotated[UploadFile, File()]
    ) -> Response:
        kind, received = await receive(file, key_id, ("image",))
        job = store.create(kind, vars(options), received, review=False, key_id=key_id)
        deadline = time.monotonic() + config.sync_timeout
        while True:
            await asyncio.sleep(0.01)
            current = store.get(job.id)
            if current is None:
                raise _error(410, "the job was deleted")
            if current.state == "done":
                break
            if current.state == "failed":
                raise _error(_failure_status(current), current.error or "failed")
            if time.monotonic() > deadline:
                raise _error(504, f"not done in time; follow /v1/jobs/{job.id}")
        path = store.result_path(current)
        report = json.loads(store.report_path(job.id).read_text())
        return Response(
            await run_in_threadpool(path.read_bytes),
            media_type=current.result_type,
            headers={
                "X-Veil-Job": job.id,
                "X-Veil-Report": f"/v1/jobs/{job.id}/report",
                "X-Veil-Faces": str(len(report.get("faces", []))),
                "Content-Disposition": f'inline; filename="veiled.{current.result_ext}"',
            },
        )

    # --- jobs ------------------------------------------------------------------------------

    @app.post("/v1/jobs", status_code=202, summary="Queue a photo or a video")
    async def post_job(
        key_id: Caller,
        options: Options,
        file: Annotated[UploadFile, File()],
        review: Annotated[bool, Form()] = False,
    ) -> dict[str, Any]:
        """`review=true` keeps the original (for plan edits) until POST .../finish, DELETE,
        or the review window ends; otherwise it is deleted as soon as the job ends."""
        kind, received = await receive(file, key_id, ("image", "video"))
        job = store.create(kind, vars(options), received, review=review, key_id=key_id)
        log.info("job %s %s queued", job.id, kind)
        return describe(job)

    @app.get("/v1/jobs/{job_id}", summary="A job's state and progress")
    async def get_job(job_id: str, key_id: Caller) -> dict[str, Any]:
        job = owned(job_id, key_id)
        return describe(job)

    def ready(job: Job) -> None:
        if job.state == "expired":
            raise _error(410, "the result has expired and was deleted")
        if job.state == "failed":
            raise _error(_failure_status(job), job.error or "failed")
        if job.state != "done":
            raise _error(409, f"not ready: the job is {job.state}")

    @app.get(
        "/v1/jobs/{job_id}/result",
        summary="The anonymized file",
        response_class=FileResponse,
        responses={200: {"content": {"image/jpeg": {}, "video/mp4": {}}}},
    )
    async def get_result(job_id: str, key_id: Caller) -> FileResponse:
        job = owned(job_id, key_id)
        ready(job)
        return FileResponse(
            store.result_path(job),
            media_type=job.result_type,
            filename=f"veiled.{job.result_ext}",
            content_disposition_type="attachment",
        )

    @app.get("/v1/jobs/{job_id}/report", summary="What was found and removed (JSON)")
    async def get_report(job_id: str, key_id: Caller) -> Any:
        job = owned(job_id, key_id)
        if job.state == "failed":
            return {"status": "error", "error": job.error}
        ready(job)
        return json.loads(store.report_path(job.id).read_text())

    @app.get("/v1/jobs/{job_id}/plan", summary="The mask plan (regions or tracks, JSON)")
    async def get_plan(job_id: str, key_id: Caller) -> Any:
        job = owned(job_id, key_id)
        ready(job)
        return json.loads(store.plan_path(job.id).read_text())

    @app.put("/v1/jobs/{job_id}/plan", status_code=202, summary="Render an edited plan")
    async def put_plan(job_id: str, key_id: Caller, request: Request) -> dict[str, Any]:
        """Queues a re-render of the original with this plan; nothing is detected again.
        Needs a job submitted with review=true whose review is still open."""
        job = owned(job_id, key_id)
        if job.state in ("queued", "running"):
            raise _error(409, f"the job is {job.state}; wait for it to finish")
        if not job.has_original:
            raise _error(
                409,
                "the original is gone (deleted when the job ended, or the review closed); "
                "submit it again with review=true to edit its plan",
            )
        try:
            plan = plan_from_json(json.loads(await request.body()))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _error(422, "the plan is not valid JSON") from exc
        except VeilError as exc:
            raise _error(422, str(exc)) from exc
        current = json.loads(store.plan_path(job.id).read_text())
        expected = VideoPlan if job.kind == "video" else ImagePlan
        if not isinstance(plan, expected):
            raise _error(422, f"this job needs a {job.kind} plan")
        if (plan.width, plan.height) != (current["width"], current["height"]):
            raise _error(422, "the plan's width and height differ from this file's")
        if isinstance(plan, VideoPlan) and plan.frames != current["frames"]:
            raise _error(422, "the plan's frame count differs from this video's")
        store.plan_path(job.id).write_text(json.dumps(plan.to_json()))
        store.requeue_for_render(job.id)
        job = owned(job_id, key_id)
        return describe(job)

    @app.post("/v1/jobs/{job_id}/finish", summary="End a review: delete the original now")
    async def finish_review(job_id: str, key_id: Caller) -> dict[str, Any]:
        job = owned(job_id, key_id)
        if job.state in ("queued", "running"):
            raise _error(409, f"the job is {job.state}; wait for it to finish")
        store.drop_original(job.id)
        job = owned(job_id, key_id)
        return describe(job)

    @app.delete("/v1/jobs/{job_id}", status_code=204, summary="Delete a job and all its files")
    async def delete_job(job_id: str, key_id: Caller) -> Response:
        owned(job_id, key_id)
        store.delete(job_id)
        return Response(status_code=204)

    return app


def _failure_status(job: Job) -> int:
    # The file's fault (unreadable, hostile, refused by a check): 422. Ours: 500, one line.
    return 500 if job.error_kind == "internal" else 422
