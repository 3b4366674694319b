"""Suppression and fusion of overlapping boxes: the same decisions, to the bit, as greedy
passes over a full IoU matrix, on a real photo's thousands of faint candidates and on
boxes made to hit the edge cases (ties, duplicates, boxes with no area, one box holding
many)."""

from __future__ import annotations

import numpy as np
import pytest

from veil.detect.base import Detections, Overlaps, iou_matrix, iou_row, nms
from veil.detect.centerface import CenterFace
from veil.detect.ensemble import fuse


def full_matrix_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    ious = iou_matrix(boxes[order], boxes[order])
    suppressed = np.zeros(len(order), bool)
    keep = []
    for i in range(len(order)):
        if not suppressed[i]:
            keep.append(int(order[i]))
            suppressed |= ious[i] > threshold
    return np.asarray(keep, np.int64)


def full_matrix_fuse(dets: Detections, threshold: float) -> Detections:
    if len(dets) <= 1:
        return dets
    order = np.argsort(-dets.scores, kind="stable")
    boxes = dets.boxes[order]
    ious = iou_matrix(boxes, boxes)
    taken = np.zeros(len(order), bool)
    out, scores, sources = [], [], []
    for i in range(len(order)):
        if taken[i]:
            continue
        near = ious[i] > threshold
        near[i] = True
        members = np.nonzero(near & ~taken)[0]
        taken[members] = True
        mean = boxes[members].mean(axis=0)
        out.append([min(boxes[i][0], mean[0]), min(boxes[i][1], mean[1]),
                    max(boxes[i][2], mean[2]), max(boxes[i][3], mean[3])])
        scores.append(dets.scores[order[i]])
        names = {dets.sources[order[j]] for j in members}
        sources.append(dets.sources[order[i]] if len(names) == 1 else "ensemble")
    return Detections(np.asarray(out, np.float32), np.asarray(scores, np.float32), sources)


@pytest.fixture(scope="module")
def faint_candidates(portraits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every heatmap cell of the portraits over 0.01: thousands of boxes, most of them
    piled on the three faces, as a photo's views give the suppression."""
    boxes, scores = CenterFace(threshold=0.01, threads=1).candidates(portraits)
    assert len(boxes) > 2000
    return boxes, scores


def edge_cases(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes in clusters, exact duplicates, tied scores, boxes with no width or height
    (and one turned inside out), and large boxes over many small ones."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 400, (12, 2))
    parts = []
    for cx, cy in centres:
        count = int(rng.integers(1, 40))
        size = rng.uniform(4, 60, (count, 1)) * [1, 1.2]
        jitter = rng.normal(0, 4, (count, 2))
        parts.append(np.hstack([[cx, cy] + jitter - size / 2, [cx, cy] + jitter + size / 2]))
    boxes = np.vstack(parts + [[[0, 0, 400, 400], [10, 10, 10, 50], [5, 5, 30, 5],
                                [50, 50, 40, 40]]])
    boxes = np.vstack([boxes, boxes[:5]]).astype(np.float32)  # duplicates
    scores = rng.choice([0.1, 0.3, 0.5, 0.9], len(boxes)).astype(np.float32)  # ties
    return boxes, scores


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.4, 0.5])
def test_overlaps_finds_exactly_the_boxes_over_the_threshold(threshold: float) -> None:
    for seed in range(5):
        boxes, _ = edge_cases(seed)
        overlaps, over = Overlaps(boxes), iou_matrix(boxes, boxes) > threshold
        gone = np.random.default_rng(seed).random(len(boxes)) < 0.3
        for i in range(len(boxes)):
            assert sorted(overlaps.over(i, threshold, gone)) == list(np.flatnonzero(
                over[i] & ~gone))


def test_one_row_is_the_full_matrixs_row_to_the_bit(
    faint_candidates: tuple[np.ndarray, np.ndarray],
) -> None:
    boxes = np.vstack([faint_candidates[0], *(edge_cases(seed)[0] for seed in range(3)),
                       [[np.nan, 0, 5, 5], [0, 0, np.inf, 5]]]).astype(np.float32)
    with np.errstate(invalid="ignore"):  # inf - inf: NaN in both
        full = iou_matrix(boxes, boxes)
        for i in range(0, len(boxes), 3):
            assert iou_row(boxes[i], boxes).tobytes() == full[i].tobytes()
        assert iou_row(boxes[-1], boxes).tobytes() == full[-1].tobytes()


def test_suppression_keeps_what_a_full_matrix_keeps(
        faint_candidates: tuple[np.ndarray, np.ndarray]) -> None:
    cases = [faint_candidates] + [edge_cases(seed) for seed in range(20)]
    for boxes, scores in cases:
        for threshold in (0.3, 0.4):
            assert np.array_equal(nms(boxes, scores, threshold),
                                  full_matrix_nms(boxes, scores, threshold))
    assert len(nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.3)) == 0


def test_fusion_gives_what_a_full_matrix_gives(
        faint_candidates: tuple[np.ndarray, np.ndarray]) -> None:
    cases = [faint_candidates] + [edge_cases(seed) for seed in range(20)]
    for boxes, scores in cases:
        named = ["centerface", "retinaface"]
        dets = Detections(boxes, scores, [named[k % 2] for k in range(len(boxes))])
        for threshold in (0.4, 0.5):
            ours, full = fuse(dets, threshold), full_matrix_fuse(dets, threshold)
            assert np.array_equal(ours.boxes, full.boxes)
            assert np.array_equal(ours.scores, full.scores)
            assert ours.sources == full.sources


def test_boxes_that_are_not_finite_are_compared_in_full() -> None:
    boxes, scores = edge_cases(0)
    boxes[3] = [np.nan, 0, np.inf, 10]
    assert np.array_equal(nms(boxes, scores, 0.3), full_matrix_nms(boxes, scores, 0.3))


def test_a_negative_threshold_is_refused() -> None:
    boxes, scores = edge_cases(0)
    with pytest.raises(ValueError):
        nms(boxes, scores, -0.1)
