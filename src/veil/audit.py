"""The leak audit: an independent look at the rendered output for any face left visible.

The auditor is a detector view the plan did not use (another scale, model or a mirror
image), run on the rendered pixels. Whatever it finds that the masks do not already cover
is a leak; the pipeline adds it to the plan and renders again.
"""

from __future__ import annotations

import numpy as np

from .detect.base import Detector, iou_matrix
from .masks import coverage
from .options import MaskOptions
from .plan import AUDIT, ImagePlan, Region

# A finding counts as covered when this share of its inner 60% is already masked.
COVERED_SHARE = 0.9
INNER = 0.6


def find_leaks(
    rendered: np.ndarray, plan: ImagePlan, auditor: Detector, mask: MaskOptions
) -> list[Region]:
    """Faces the auditor sees in `rendered` that the plan's masks do not cover.

    Regions a person marked `keep` are respected: a finding on one is not a leak.
    """
    height, width = rendered.shape[:2]
    dets = auditor.detect(np.ascontiguousarray(rendered[..., :3]))
    if not len(dets):
        return []
    covered = coverage(height, width, plan.to_cover, mask.margin, mask.shape)
    kept = np.array([[r.x1, r.y1, r.x2, r.y2] for r in plan.regions if r.keep], np.float32)
    near_kept = (
        iou_matrix(dets.boxes, kept).max(axis=1) > 0.3 if len(kept) else np.zeros(len(dets), bool)
    )
    leaks = []
    for box, score, on_kept in zip(dets.boxes, dets.scores, near_kept, strict=True):
        if on_kept:
            continue
        x1, y1, x2, y2 = (float(v) for v in box)
        w, h = x2 - x1, y2 - y1
        ix1, iy1 = int(x1 + w * (1 - INNER) / 2), int(y1 + h * (1 - INNER) / 2)
        ix2, iy2 = (
            max(ix1 + 1, int(x1 + w * (1 + INNER) / 2)),
            max(iy1 + 1, int(y1 + h * (1 + INNER) / 2)),
        )
        inner = covered[iy1:iy2, ix1:ix2]
        if inner.size and inner.mean() >= COVERED_SHARE:
            continue
        leaks.append(Region(x1, y1, x2, y2, float(score), AUDIT))
    return leaks
