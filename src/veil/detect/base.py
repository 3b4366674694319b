"""The detector interface: pixels in, face boxes and scores out. Nothing about files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class Detections:
    """Face boxes (N x 4: x1, y1, x2, y2 in input pixels), scores (N) and each box's source."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @classmethod
    def of(cls, boxes: np.ndarray, scores: np.ndarray, source: str) -> Detections:
        """Detections from arrays; boxes with no area (clipped away at an edge) are dropped."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        real = ((boxes[:, 2] - boxes[:, 0]) > 0) & ((boxes[:, 3] - boxes[:, 1]) > 0)
        real &= np.isfinite(boxes).all(axis=1)
        return cls(boxes[real], scores[real], [source] * int(real.sum()))

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls()
        return cls(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            [s for p in parts for s in p.sources],
        )

    def shifted(self, x: float, y: float) -> Detections:
        """The same boxes moved by (x, y): from a crop's pixels to the image's."""
        offset = np.array([x, y, x, y], np.float32)
        return Detections(self.boxes + offset, self.scores, self.sources)

    def select(self, keep: np.ndarray) -> Detections:
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)
        return Detections(self.boxes[keep], self.scores[keep], [self.sources[i] for i in keep])


class Detector(Protocol):
    """Finds where faces are in an RGB image (H x W x 3, uint8). It computes nothing else."""

    name: str

    def detect(self, image: np.ndarray) -> Detections: ...


def input_blob(image: np.ndarray, stride: int = 1, bgr: bool = False) -> np.ndarray:
    """`image` (H x W x 3) as a model takes it: 1 x 3 x H' x W' float32 in C order, its
    channels reversed if `bgr`, padded with zeros at the bottom and right to a multiple of
    `stride` (so nothing is squashed). One strided copy: converting the pixels and then
    transposing them left onnxruntime a second copy to make (5.6 ms a megapixel against
    1.5)."""
    h, w = image.shape[:2]
    blob = np.zeros((1, 3, h + (-h) % stride, w + (-w) % stride), np.float32)
    blob[0, :, :h, :w] = (image[..., ::-1] if bgr else image).transpose(2, 0, 1)
    return blob


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in `a` with every box in `b`."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, 1e-6)


def iou_row(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """iou_matrix(box[None], boxes)[0], the same arithmetic in the same order (so the same
    values to the bit) at half the cost: suppression asks it about 1,500 times a photo."""
    inter = (np.maximum(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0)
             * np.maximum(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0))
    union = ((box[2] - box[0]) * (box[3] - box[1])
             + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter)
    return inter / np.maximum(union, 1e-6)


class Overlaps:
    """Finds the boxes that overlap one box by more than a threshold, among those still in
    play: what greedy suppression and fusion ask once per box they keep.

    Boxes that do not meet have an IoU of 0, so only those that meet the box along x are
    compared (boxes sorted by left edge; a box starts at most the widest box's width before
    one it meets). A photo's thousands of faint candidates made a full IoU matrix cost 0.1
    to 1.5 s a call. Each IoU is computed as iou_matrix computes it, so every decision is
    the full matrix's (tests/test_overlap.py)."""

    def __init__(self, boxes: np.ndarray) -> None:
        self.boxes = boxes
        n = len(boxes)
        self.by_x = np.argsort(boxes[:, 0], kind="stable")
        if not np.isfinite(boxes).all():  # no order to trust: compare with every box
            self.first, self.stop = np.zeros(n, np.int64), np.full(n, n, np.int64)
            return
        x1, x2 = boxes[:, 0].astype(np.float64), boxes[:, 2].astype(np.float64)
        widest = float((x2 - x1).max(initial=0.0))
        # a margin past the widest box, so that rounding never leaves one out
        left = x1[self.by_x]
        self.first = np.searchsorted(left, x1 - (1.01 * widest + 1.0), "left")
        self.stop = np.searchsorted(left, x2, "left")

    def over(self, i: int, threshold: float, gone: np.ndarray) -> np.ndarray:
        """Indices of the boxes not `gone` (a mask) whose IoU with box i is over
        `threshold`: box i itself among them unless gone or of no area."""
        if threshold < 0:  # boxes that do not meet (IoU 0) would count, and are not looked at
            raise ValueError("an overlap threshold must be 0 or more")
        near = self.by_x[self.first[i] : self.stop[i]]
        near = near[~gone[near]]
        return near[iou_row(self.boxes[i], self.boxes[near]) > threshold]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of boxes kept by greedy non-maximum suppression, best first."""
    overlaps = Overlaps(boxes)
    suppressed = np.zeros(len(boxes), bool)
    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable").tolist():
        if not suppressed[i]:
            keep.append(i)
            suppressed[overlaps.over(i, iou_threshold, suppressed)] = True
    return np.asarray(keep, np.int64)
