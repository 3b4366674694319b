"""Detectors made of one detector: mirrored passes and overlapping tiles for large photos."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .base import Detections, Detector
from .ensemble import fuse


def view_scale(
    shape: tuple[int, ...], scale: float, long_side: int | None, max_side: int | None = None
) -> float:
    """The resize factor for one pass: fixed, or chosen so the long side has a given length;
    `max_side` caps the resized long side (a cheaper view of very large photos)."""
    longest = max(shape[0], shape[1])
    if long_side is not None:
        scale = long_side / longest
    if max_side is not None:
        scale = min(scale, max_side / longest)
    return scale


def resized(image: np.ndarray, scale: float) -> np.ndarray:
    """The image resized by `scale` (area averaging down, bilinear up)."""
    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def around(
    image: np.ndarray, box: np.ndarray, reach: float, smallest: int = 8
) -> tuple[np.ndarray, int, int] | None:
    """The part of `image` around `box`, reaching `reach` times the box's size past each side
    (clipped to the image), with its top-left corner; None when it is under `smallest`
    pixels on a side."""
    height, width = image.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    x1, y1 = max(0, int(box[0] - bw * reach)), max(0, int(box[1] - bh * reach))
    x2 = min(width, int(np.ceil(box[2] + bw * reach)))
    y2 = min(height, int(np.ceil(box[3] + bh * reach)))
    if x2 - x1 < smallest or y2 - y1 < smallest:
        return None
    return image[y1:y2, x1:x2], x1, y1


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


class Rotated:
    """Runs a detector on the image turned by quarter turns (1: 90 degrees anticlockwise,
    3: clockwise): a face lying on its side, or in a photo or video stored sideways, looks
    upright to it there. Boxes come back in the input's pixels."""

    def __init__(self, inner: Detector, quarter_turns: int) -> None:
        if quarter_turns % 4 not in (1, 2, 3):
            raise ValueError("quarter_turns must be 1, 2 or 3")
        self.inner = inner
        self.name = inner.name
        self.turns = quarter_turns % 4

    def detect(self, image: np.ndarray) -> Detections:
        height, width = image.shape[:2]
        dets = self.inner.detect(np.ascontiguousarray(np.rot90(image, self.turns)))
        x1, y1, x2, y2 = (dets.boxes[:, i] for i in range(4))
        if self.turns == 1:  # a point (x, y) was shown at (y, width - x)
            boxes = np.stack([width - y2, x1, width - y1, x2], axis=1)
        elif self.turns == 3:  # shown at (height - y, x)
            boxes = np.stack([y1, height - x2, y2, height - x1], axis=1)
        else:  # shown at (width - x, height - y)
            boxes = np.stack([width - x2, height - y2, width - x1, height - y1], axis=1)
        return Detections(boxes.astype(np.float32).reshape(-1, 4), dets.scores, dets.sources)


class Tiled:
    """Runs a detector on overlapping tiles, so memory stays flat however large the photo.

    Faces taller than `overlap` pixels may be cut by a tile edge; pair this with a
    downscaled pass (which sees them whole) in an ensemble.
    """

    DEFAULT_OVERLAP = 192

    def __init__(self, inner: Detector, tile: int = 2048, overlap: int = DEFAULT_OVERLAP) -> None:
        self.inner = inner
        self.name = inner.name
        self.tile = tile
        self.overlap = overlap

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        if h <= self.tile and w <= self.tile:
            return self.inner.detect(image)
        parts = []
        for y, th in _spans(h, self.tile, self.overlap):
            for x, tw in _spans(w, self.tile, self.overlap):
                crop = np.ascontiguousarray(image[y : y + th, x : x + tw])
                dets = self.inner.detect(crop)
                dets.boxes[:, 0::2] += x
                dets.boxes[:, 1::2] += y
                parts.append(dets)
        return fuse(Detections.concat(parts), 0.5)


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """As few equal tiles as cover `length` with at most `tile` each plus the overlap."""
    if length <= tile:
        return [(0, length)]
    n = -(-(length - overlap) // (tile - overlap))
    size = -(-(length + (n - 1) * overlap) // n)
    starts = [round(i * (length - size) / (n - 1)) for i in range(n)]
    return [(s, size) for s in starts]


class SizeBandThresholds:
    """Keeps a box if its score reaches the threshold of its height band.

    Small boxes cost few pixels, so they are kept at a low score (small faces score low);
    a large false box masks a lot of background, and large faces score high, so larger
    boxes need more. The inner detector must run at the lowest of these thresholds.
    """

    def __init__(
        self, inner: Detector, thresholds: tuple[float, ...], bands: tuple[float, ...] = (24, 64)
    ) -> None:
        if len(thresholds) != len(bands) + 1:
            raise ValueError("need one threshold more than band edges")
        self.inner = inner
        self.name = inner.name
        self.thresholds = np.asarray(thresholds, np.float32)
        self.bands = np.asarray(bands, np.float32)

    def detect(self, image: np.ndarray) -> Detections:
        dets = self.inner.detect(image)
        heights = dets.boxes[:, 3] - dets.boxes[:, 1]
        needed = self.thresholds[np.searchsorted(self.bands, heights, side="right")]
        return dets.select(np.nonzero(dets.scores >= needed)[0])


class Resized:
    """Runs a detector on a resized copy of the image and maps its boxes back.

    The resize is a fixed factor, or set by the long side (`long_side`), and capped by
    `max_side`; wrap a Tiled detector in it so tiles are cut from the resized image.
    """

    def __init__(
        self,
        inner: Detector,
        scale: float = 1.0,
        long_side: int | None = None,
        max_side: int | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.scale = scale
        self.long_side = long_side
        self.max_side = max_side

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        scale = view_scale(image.shape, self.scale, self.long_side, self.max_side)
        if scale == 1.0:
            return self.inner.detect(image)
        direct = _scaling_model(self.inner, image.shape, scale)
        if direct is not None:  # the GPU backend resizes on the GPU
            dets: Detections = direct.detect_scaled(image, scale)
            return dets
        dets = self.inner.detect(resized(image, scale))
        boxes = dets.boxes / scale
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        return Detections(boxes, dets.scores, dets.sources)


def _scaling_model(detector: Detector, shape: tuple[int, ...], scale: float) -> Any:
    """The model under `detector` when it resizes its views itself (`detect_scaled`: the GPU
    backend's) and no tile would cut this view (only Tiled wrappers between, with tiles
    the resized view fits in); else None."""
    height, width = round(shape[0] * scale), round(shape[1] * scale)
    while isinstance(detector, Tiled):
        if height > detector.tile or width > detector.tile:
            return None
        detector = detector.inner
    return detector if hasattr(detector, "detect_scaled") else None
