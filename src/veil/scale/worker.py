"""The Ray actor: loaded models and the run's options, for whole files and for spans of one
video's detection."""

from __future__ import annotations

from .. import (
    BatchJob,
    FileReport,
    Models,
    Options,
    PlanSet,
    VeilError,
    VideoSpan,
    detect_video_span,
    load_models,
    load_video_models,
)
from ..jobs import Plan, anonymize_one, outcome

Result = tuple[FileReport, Plan | None]


class FileWorker:
    """One actor's state: the photo models (loaded at start when the batch has photos to
    detect in), the video models (loaded at the first span) and the run's options."""

    def __init__(self, options: Options, threads: int, need_models: bool) -> None:
        detect = options.detect
        self.models: Models | None = (
            load_models(detect.profile, threads, detect.backend) if need_models else None
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
                self.video_models = load_video_models(detect.min_face, backend=detect.backend)
            return detect_video_span(job.src, self.video_models, start, stop, self.options,
                                     self.threads)
        except VeilError as exc:
            return FileReport(input=job.key, status="failed", error=str(exc))
