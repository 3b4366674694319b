"""Detectors made of one detector: mirrored passes and overlapping tiles for large photos."""

from __future__ import annotations

import numpy as np

from .base import Detections, Detector
from .ensemble import fuse


class Mirrored:
    """Runs a detector on the left-right mirror image: turned faces look different to it."""

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self.name = inner.name

    def detect(self, image: np.ndarray) -> Detections:
        width = image.shape[1]
        dets = self.inner.detect(np.ascontiguousarray(image[:, ::-1]))
        boxes = dets.boxes.copy()
        boxes[:, 0], boxes[:, 2] = width - dets.boxes[:, 2], width - dets.boxes[:, 0]
        return Detections(boxes, dets.scores, dets.sources)


class Tiled:
    """Runs a detector on overlapping tiles, so memory stays flat however large the photo.

    Faces taller than `overlap` pixels may be cut by a tile edge; pair this with a
    downscaled pass (which sees them whole) in an ensemble.
    """

    DEFAULT_OVERLAP = 192

    def __init__(self, inner: Detector, tile: int = 1536, overlap: int = DEFAULT_OVERLAP) -> None:
        self.inner = inner
        self.name = inner.name
        self.tile = tile
        self.overlap = overlap

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        if h <= self.tile and w <= self.tile:
            return self.inner.detect(image)
        parts = []
        for y in _starts(h, self.tile, self.overlap):
            for x in _starts(w, self.tile, self.overlap):
                crop = np.ascontiguousarray(image[y : y + self.tile, x : x + self.tile])
                dets = self.inner.detect(crop)
                dets.boxes[:, 0::2] += x
                dets.boxes[:, 1::2] += y
                parts.append(dets)
        return fuse(Detections.concat(parts), 0.5)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts
