"""The Ray actor: loaded models and the run's options, for whole files and for the pieces of
one video (spans of its detection, parts of its rendering, their join)."""

from __future__ import annotations

from pathlib import Path

from .. import (
    BatchJob,
    FileReport,
    Models,
    Options,
    PartsDoNotJoin,
    PlanSet,
    RenderedPart,
    VeilError,
    VideoPlan,
    VideoSpan,
    detect_video_span,
    join_video,
    load_models,
    load_video_models,
    render_video_part,
)
from ..jobs import Plan, anonymize_one, job_options, outcome

Result = tuple[FileReport, Plan | None]


class FileWorker:
    """One actor's state: the photo models (loaded at start when the batch has photos to
    detect in), the video models (loaded at the first span) and the run's options."""

    def __init__(self, options: Options, threads: int, need_models: bool) -> None:
        detect = options.detect
        self.models: Models | None = (
            load_models(detect.profile, threads, detect.backend, detect.device) if need_models
            else None
        )
        self.video_models: Models | None = None
        self.options, self.threads = options, threads

    def ready(self) -> bool:
        return True

    def run(self, job: BatchJob, given: PlanSet | None) -> Result:
        """A whole file, written where the job says, as the local path does it."""
        def attempt(plan: Plan | None) -> tuple[FileReport, Plan]:
            return anonymize_one(job, self.options, plan, self.models, self.threads)

        return outcome(job, given, attempt)

    def span(self, job: BatchJob, start: int, stop: int | None) -> VideoSpan | FileReport:
        """Frames `start` to `stop` of a video's detection pass, or why the file fails."""
        try:
            if self.video_models is None:
                detect = self.options.detect
                self.video_models = load_video_models(detect.min_face, backend=detect.backend,
                                                      device=detect.device)
            return detect_video_span(job.src, self.video_models, start, stop, self.options,
                                     self.threads)
        except VeilError as exc:
            return FileReport(input=job.key, status="failed", error=str(exc))

    def render(self, job: BatchJob, plan: VideoPlan, start: int, stop: int | None,
               part: str) -> RenderedPart | FileReport:
        """Frames `start` to `stop` of a video rendered and encoded into `part`, or why the
        file fails."""
        try:
            return render_video_part(job.src, Path(part), plan, job_options(self.options, job),
                                     start, stop, self.threads)
        except VeilError as exc:
            return FileReport(input=job.key, status="failed", error=str(exc))

    def join(self, job: BatchJob, plan: VideoPlan,
             parts: list[RenderedPart]) -> Result | None:
        """The output from a video's rendered parts, as the local path reports it; None when
        the parts cannot be joined as they are (the driver has it encoded whole)."""
        try:
            report = join_video(job.src, job.dst, plan, parts, job_options(self.options, job),
                                name=job.key)
        except PartsDoNotJoin:
            return None
        except VeilError as exc:
            return FileReport(input=job.key, status="failed", error=str(exc)), None
        report.warnings.extend(job.notes)
        return report, plan
