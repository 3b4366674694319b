"""The model cache: each profile's detectors, loaded once per process and kept.

This is the engine's only global state. Profiles are frozen objects, so a profile and a
thread count key the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from ..detect.base import Detections, Detector
from ..detect.confirm import Looked, second_look
from ..detect.runtime import describe_backend
from ..errors import VeilError
from ..options import DEFAULT_MIN_FACE, DEFAULT_PROFILE, Options
from ..profiles import Profile, build_profile, get_profile, video_profile


@dataclass(frozen=True)
class Models:
    """The detectors one run uses: the detector that makes plans and the leak auditor."""

    detector: Detector
    auditor: Detector | None = None
    # Looks again at weak candidates too big to be cheap (detect/confirm.py)
    second_look: Detector | None = None
    backend: str = ""  # the inference runtime that runs them, as the report names it


T = TypeVar("T")
_cache: dict[tuple[Profile, int, str], Models] = {}


def models_for(options: Options, planned: bool, models: Models | None) -> Models | None:
    """The models one file needs: a detector unless a plan is given, and the auditor when
    the audit runs (never on a given plan); the cache's for the profile unless brought."""
    if planned:
        return models
    return models or load_models(options.detect.profile, backend=options.detect.backend)


def faint_warning(options: Options) -> list[str]:
    """What the report says when --min-score leaves faint detections uncovered."""
    if not options.detect.min_score:
        return []
    return [f"--min-score {options.detect.min_score:g}: detections scored lower were left "
            "uncovered (fewer false masks, more missed faces)"]


def load_models(
    profile: Profile | str = DEFAULT_PROFILE, threads: int = 0, backend: str = "auto"
) -> Models:
    """A profile's detector and auditor (`threads` 0: the runtime's default) on an inference
    `backend` (auto, onnxruntime, openvino), loaded once."""
    spec = get_profile(profile)
    key = (spec, threads, backend)
    if key not in _cache:
        detector, auditor, second_look = build_profile(spec, threads, backend)
        _cache[key] = Models(detector, auditor, second_look, describe_backend(backend))
    return _cache[key]


def load_detector(profile: Profile | str = DEFAULT_PROFILE, threads: int = 0) -> Detector:
    """The detector of a photo profile (fast, balanced, thorough), loaded once per process."""
    return load_models(profile, threads).detector


def load_video_models(
    min_face: float = DEFAULT_MIN_FACE, threads: int = 1, backend: str = "auto"
) -> Models:
    """The video detector for a smallest face to catch, in frame pixels.

    One inference thread by default: videos detect several frames at once instead.
    """
    return load_models(video_profile(min_face), threads, backend)


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
