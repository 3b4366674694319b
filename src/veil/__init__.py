"""veil: make photos safe to share. Finds where faces are, covers them, strips metadata.

veil computes one thing about a face: where it is. It never recognises, matches or
classifies people, and no output or API returns face crops.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import InputError, SetupError, VeilError
from .masks import MaskStyleOptions
from .pipeline import (
    AnonymizedImage,
    anonymize_file,
    anonymize_image,
    detect_image,
    load_detector,
    render_image,
)
from .plan import ImagePlan, PlanSet, Region

__all__ = [
    "__version__",
    "AnonymizedImage",
    "anonymize_file",
    "anonymize_image",
    "detect_image",
    "load_detector",
    "render_image",
    "ImagePlan",
    "PlanSet",
    "Region",
    "MaskStyleOptions",
    "VeilError",
    "InputError",
    "SetupError",
]
