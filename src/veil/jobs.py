"""One file of a batch through the public engine, as every front end runs it: the CLI, its
worker processes and the Ray actors (veil.scale)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from . import (
    BatchJob,
    FileReport,
    ImagePlan,
    Models,
    Options,
    PlanSet,
    RefusedError,
    VeilError,
    VideoPlan,
    anonymize_file,
    anonymize_video,
)
from .batch import exists_already

Plan = ImagePlan | VideoPlan


def job_options(options: Options, job: BatchJob) -> Options:
    """The run's options, with the output format its name asks for (`-o clean.png`)."""
    if job.format is None or job.format == options.encode.format:
        return options
    return dataclasses.replace(
        options, encode=dataclasses.replace(options.encode, format=job.format)
    )


def anonymize_one(
    job: BatchJob, options: Options, plan: Plan | None, models: Models | None,
    threads: int = 0, progress: Callable[[str, int, int], None] | None = None,
) -> tuple[FileReport, Plan]:
    """One file through the engine, written atomically where the job says."""
    if job.refused:
        raise RefusedError(job.refused)
    if not job.replace and job.dst.exists():  # made since the batch was planned (hours ago?)
        raise RefusedError(exists_already(job.dst))
    options = job_options(options, job)
    if job.kind == "video":
        if isinstance(plan, ImagePlan):
            raise VeilError("the plan for this file is a photo plan, not a video plan")
        video_plan, report = anonymize_video(job.src, job.dst, options, plan=plan,
                                             progress=progress, name=job.key, threads=threads)
        return report, video_plan
    result = anonymize_file(job.src, job.dst, options, plan=plan, models=models, name=job.key)
    return result.report, result.plan


def outcome(job: BatchJob, given: PlanSet | None, attempt: Callable[[Plan | None],
            tuple[FileReport, Plan]]) -> tuple[FileReport, Plan | None]:
    """Run one job (its reviewed plan, when one was given) into a report, whatever happens."""
    try:
        plan: Plan | None = None
        if given is not None:
            plan = given.for_file(job.key, job.src)
        report, made = attempt(plan)
        report.warnings.extend(job.notes)
        return report, made
    except VeilError as exc:
        status = "refused" if isinstance(exc, RefusedError) else "failed"
        return FileReport(input=job.key, status=status, error=str(exc)), None
