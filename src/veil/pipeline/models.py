"""The model cache: each profile's detectors, loaded once per process and kept.

This is the engine's only global state. Profiles are frozen objects, so a profile and a
thread count key the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ..detect.base import Detections, Detector
from ..detect.confirm import Looked, second_look
from ..detect.runtime import describe_backend, resolve_device
from ..detect.text import FoundText, TextDetector, TextReader, find_text
from ..errors import VeilError
from ..options import DEFAULT_MIN_FACE, DEFAULT_PROFILE, Options
from ..plan import Region
from ..profiles import Profile, build_profile, get_profile, video_profile

if TYPE_CHECKING:
    from .schedule import ScheduleOptions


@dataclass(frozen=True)
class Models:
    """The detectors one run uses: the detector that makes plans and the leak auditor."""

    detector: Detector
    auditor: Detector | None = None
    # Looks again at weak candidates too big to be cheap (detect/confirm.py)
    second_look: Detector | None = None
    backend: str = ""  # the inference runtime that runs them, as the report names it
    threads: int = 0  # inference threads each (0: the runtime's default)
    runtime: str = "auto"  # the backend asked for (auto, onnxruntime, openvino)
    device: str = "cpu"  # where they run (cpu, cuda)
    schedule: ScheduleOptions | None = None  # a video's (None: schedule_for the device)


T = TypeVar("T")
_cache: dict[tuple[Profile, int, str, str], Models] = {}


def models_for(options: Options, planned: bool, models: Models | None) -> Models | None:
    """The models one file needs: a detector unless a plan is given, and the auditor when
    the audit runs (never on a given plan); the cache's for the profile unless brought."""
    if planned:
        return models
    return models or load_models(options.detect.profile, backend=options.detect.backend,
                                 device=options.detect.device)


def faint_warning(options: Options) -> list[str]:
    """What the report says when --min-score leaves faint detections uncovered."""
    if not options.detect.min_score:
        return []
    return [f"--min-score {options.detect.min_score:g}: detections scored lower were left "
            "uncovered (fewer false masks, more missed faces)"]


def load_models(
    profile: Profile | str = DEFAULT_PROFILE, threads: int = 0, backend: str = "auto",
    device: str = "auto",
) -> Models:
    """A profile's detector and auditor (`threads` 0: the runtime's default) on an inference
    `backend` (auto, onnxruntime, openvino) and `device` (auto, cpu, cuda), loaded once."""
    spec = get_profile(profile)
    where = resolve_device(device)
    key = (spec, threads, backend, where)
    if key not in _cache:
        detector, auditor, second_look = build_profile(spec, threads, backend, where)
        _cache[key] = Models(detector, auditor, second_look, describe_backend(backend, where),
                             threads, backend, where)
    return _cache[key]


@dataclass(frozen=True)
class TextModels:
    """Where text is, and a reader that says which lines are plates (detect/text.py)."""

    detector: TextDetector
    reader: TextReader


_text_cache: dict[tuple[int, str, str], TextModels] = {}


def load_text_models(threads: int = 0, backend: str = "auto", device: str = "auto") -> TextModels:
    """The text detector (on `device`) and reader (on the CPU: it reads small crops) from
    the rapidocr wheel, loaded once per process."""
    key = (threads, backend, resolve_device(device))
    if key not in _text_cache:
        _text_cache[key] = TextModels(TextDetector(threads, backend, key[2]),
                                      TextReader(threads, backend))
    return _text_cache[key]


# Finds the plates and lines of text to cover in an RGB(A) image (see text_finder).
TextFinder = Callable[[np.ndarray], list[FoundText]]


def text_finder(options: Options, models: Models | None, still: bool) -> TextFinder | None:
    """What finds the plates (with --cover text, every other line of text; with --cover pii,
    the lines that read as personal data) in a still photo (`still`) or in frames, or None
    when --cover asks for faces alone (the default for frames). A failure stops the file."""
    cover = options.detect.covering(still)
    if not {"plates", "text", "pii"} & set(cover):
        return None
    text = load_text_models(models.threads if models else 0,
                            models.runtime if models else options.detect.backend,
                            models.device if models else options.detect.device)
    plates = "plates" in cover or "text" in cover  # every line includes the plates
    which = "all" if "text" in cover else "pii" if "pii" in cover else "none"

    def find(pixels: np.ndarray) -> list[FoundText]:
        return _or_stop("text detection", lambda: find_text(
            np.ascontiguousarray(pixels[..., :3]), text.detector, text.reader, plates=plates,
            text=which, frame=not still))

    return find


def find_text_regions(pixels: np.ndarray, options: Options, models: Models | None) -> list[Region]:
    """Regions for the plates and lines --cover asks for in a still photo (by default: the
    plates), as boxes drawn as they are."""
    find = text_finder(options, models, still=True)
    if find is None:
        return []
    return [Region(*line.box, score=line.score, source=TextDetector.name, shape="box",
                   margin=0.0, category=line.category) for line in find(pixels)]


def load_detector(profile: Profile | str = DEFAULT_PROFILE, threads: int = 0) -> Detector:
    """The detector of a photo profile (fast, balanced, thorough), loaded once per process."""
    return load_models(profile, threads).detector


def load_video_models(
    min_face: float = DEFAULT_MIN_FACE, threads: int = 1, backend: str = "auto",
    device: str = "auto",
) -> Models:
    """The video detector for a smallest face to catch, in frame pixels.

    One inference thread by default: videos detect several frames at once instead.
    """
    return load_models(video_profile(min_face), threads, backend, device)


def run_detector(detector: Detector, pixels: np.ndarray) -> Detections:
    """Detect faces in RGB(A) pixels; any failure of the model stops the file, never skips
    masking."""
    return _or_stop("face detection", lambda: detector.detect(np.ascontiguousarray(
        pixels[..., :3])))


def confirm_weak(
    looks: Detector, pixels: np.ndarray, dets: Detections, sure_score: float
) -> tuple[Detections, Looked]:
    """The second look at weak candidates too big to be cheap (detect/confirm.py); a failure
    stops the file, as the detector's would."""
    return _or_stop("second look", lambda: second_look(
        np.ascontiguousarray(pixels[..., :3]), dets, looks, sure_score))


def _or_stop(what: str, call: Callable[[], T]) -> T:
    """`call()`, with any failure turned into the one error type that stops a file."""
    try:
        return call()
    except VeilError:
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised as the one error type
        raise VeilError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
