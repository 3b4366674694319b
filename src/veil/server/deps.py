"""The routes' dependencies: the service's parts, the caller, the job they own, the options
they chose. Each is a module-level alias a route names in its signature.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import Depends, Form, Header, Request
from starlette.exceptions import HTTPException

from .. import Options, VeilError
from ..options import OptionSpec, specs
from .config import ServiceConfig
from .ratelimit import RateLimiter
from .store import Job, Store


def http_error(status: int, detail: str, headers: dict[str, str] | None = None) -> HTTPException:
    """An error answer: {"detail": one line}."""
    return HTTPException(status_code=status, detail=detail, headers=headers)


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_config(request: Request) -> ServiceConfig:
    return request.app.state.config


def get_limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter


StoreDep = Annotated[Store, Depends(get_store)]
ConfigDep = Annotated[ServiceConfig, Depends(get_config)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]


def caller(
    store: StoreDep,
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
        raise http_error(401, "an API key is required (Authorization: Bearer KEY or X-API-Key)")
    return key_id


CallerDep = Annotated[int | None, Depends(caller)]


def owned_job(job_id: str, key_id: CallerDep, store: StoreDep) -> Job:
    """The job in the path, if the caller may see it (otherwise it does not exist for them)."""
    job = store.get(job_id)
    if job is None or (store.has_keys() and job.key_id != key_id):
        raise http_error(404, "no such job")
    return job


OwnedJob = Annotated[Job, Depends(owned_job)]


def _form_field(spec: OptionSpec) -> inspect.Parameter:
    """One option of the table as a form field. Choices and bounds are documented in the
    schema but checked by Options, so a bad value gets the same message as on the CLI."""
    annotation: Any = str if spec.parse or spec.choices else spec.type
    if spec.default is None:
        annotation = annotation | None
    schema: dict[str, Any] = {}
    if spec.choices:
        schema["enum"] = [c for c in spec.choices if c is not None]
    if spec.low is not None:
        schema["minimum"] = spec.low
    if spec.high is not None:
        schema["maximum"] = spec.high
    form = Form(description=spec.help, max_length=40 if spec.parse or spec.choices else None,
                json_schema_extra=schema or None)
    default = spec.shown if spec.shown is not None else spec.default
    return inspect.Parameter(
        spec.name, inspect.Parameter.KEYWORD_ONLY, default=default,
        annotation=Annotated[annotation, form],
    )


def _job_options(**values: Any) -> Options:
    try:
        return Options.from_flat(values)
    except VeilError as exc:
        raise http_error(422, str(exc)) from exc


# The options a client may choose, as form fields made from the options table (so the
# OpenAPI schema lists them with their choices, bounds and defaults).
_job_options.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [_form_field(spec) for spec in specs(service=True)], return_annotation=Options
)
OptionsDep = Annotated[Options, Depends(_job_options)]
