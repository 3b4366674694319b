"""Detectors made of detectors: several models (or scales) run on one image, boxes fused."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import Detections, Detector, Overlaps


class Ensemble:
    """Runs every member on the image and fuses boxes that overlap into one."""

    name = "ensemble"

    def __init__(self, members: Sequence[Detector], iou_threshold: float = 0.4) -> None:
        self.members = list(members)
        self.iou_threshold = iou_threshold

    def detect(self, image: np.ndarray) -> Detections:
        parts = [m.detect(image) for m in self.members]
        return fuse(Detections.concat(parts), self.iou_threshold)


def fuse(dets: Detections, iou_threshold: float) -> Detections:
    """Merge overlapping boxes: the best-scored box of each cluster, grown to its members' mean.

    Growing rather than averaging keeps a mask from shrinking when two models disagree on
    extent: a missed cheek is a leak, an extra strip of hair costs nothing.
    """
    if len(dets) <= 1:
        return dets
    order = np.argsort(-dets.scores, kind="stable")
    boxes = dets.boxes[order]
    overlaps = Overlaps(boxes)
    taken = np.zeros(len(order), bool)
    out_boxes, out_scores, out_sources = [], [], []
    for i in range(len(order)):
        if taken[i]:
            continue
        taken[i] = True
        # In order, as a full matrix's row gives them (so the mean is the same to the bit).
        members = np.sort(np.append(overlaps.over(i, iou_threshold, taken), i))
        taken[members] = True
        mean = boxes[members].mean(axis=0)
        best = boxes[i]
        out_boxes.append(
            [
                min(best[0], mean[0]),
                min(best[1], mean[1]),
                max(best[2], mean[2]),
                max(best[3], mean[3]),
            ]
        )
        out_scores.append(dets.scores[order[i]])
        srcs = {dets.sources[order[j]] for j in members}
        out_sources.append(dets.sources[order[i]] if len(srcs) == 1 else "ensemble")
    return Detections(
        np.asarray(out_boxes, np.float32), np.asarray(out_scores, np.float32), out_sources
    )
