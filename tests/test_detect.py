"""Detectors on real photos: any size, padded not squashed, both model families."""

from __future__ import annotations

import numpy as np
import pytest

from veil.detect.base import input_blob, iou_matrix
from veil.detect.centerface import CenterFace
from veil.detect.ensemble import Ensemble
from veil.detect.retinaface import RetinaFace


@pytest.mark.parametrize(
    "make",
    [lambda: CenterFace(threshold=0.3, threads=1), lambda: RetinaFace(threshold=0.5, threads=1)],
)
def test_each_family_finds_the_three_portraits(portraits: np.ndarray, make) -> None:
    dets = make().detect(portraits)
    assert len(dets) == 3
    centres = sorted(((b[0] + b[2]) / 2) for b in dets.boxes)
    # one face in each of the three tiles (each about 487 px wide)
    assert [int(c // 487) for c in centres] == [0, 1, 2]


@pytest.mark.parametrize("shape", [(1, 1), (31, 33), (17, 900), (900, 17)])
def test_any_image_size_is_accepted(shape: tuple[int, int]) -> None:
    img = np.full((*shape, 3), 128, np.uint8)
    assert len(CenterFace().detect(img)) == 0
    assert len(RetinaFace().detect(img)) == 0


@pytest.mark.parametrize("shape", [(1, 1), (31, 33), (64, 96), (245, 371)])
def test_a_models_input_is_the_photo_padded_with_zeros_in_channel_order(
    shape: tuple[int, int],
) -> None:
    """input_blob gives, in C order, what padding, converting and transposing gave."""
    img = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), np.uint8)
    for stride in (1, 32):
        ph, pw = (-shape[0]) % stride, (-shape[1]) % stride
        padded = np.pad(img, ((0, ph), (0, pw), (0, 0))).astype(np.float32)
        for bgr in (False, True):
            blob = input_blob(img, stride, bgr)
            want = (padded[..., ::-1] if bgr else padded).transpose(2, 0, 1)[None]
            assert blob.flags.c_contiguous and blob.dtype == np.float32
            assert blob.tobytes() == np.ascontiguousarray(want).tobytes()


def test_wide_strip_is_padded_not_squashed(portraits: np.ndarray) -> None:
    # Put the portraits in a very wide canvas: boxes must land on the same faces.
    canvas = np.zeros((portraits.shape[0], portraits.shape[1] * 3 + 7, 3), np.uint8)
    canvas[:, : portraits.shape[1]] = portraits
    det = CenterFace(threshold=0.3)
    a, b = det.detect(portraits), det.detect(canvas)
    assert len(a) == len(b) == 3
    assert np.allclose(np.sort(a.boxes, axis=0), np.sort(b.boxes, axis=0), atol=1.0)


def test_ensemble_fuses_agreeing_boxes(portraits: np.ndarray) -> None:
    ens = Ensemble([CenterFace(threshold=0.3), RetinaFace(threshold=0.5)])
    dets = ens.detect(portraits)
    assert len(dets) == 3
    assert set(dets.sources) == {"ensemble"}


def test_tiles_find_faces_anywhere_in_a_large_photo(portraits: np.ndarray) -> None:
    from veil.detect.multiscale import Tiled

    # A 5000 x 1500 canvas with the portraits straddling the seam between two tiles.
    canvas = np.full((1500, 5000, 3), 90, np.uint8)
    h, w = portraits.shape[:2]
    canvas[700:700 + h, 1900:1900 + w] = portraits
    tiled = Tiled(CenterFace(threshold=0.3), tile=1024, overlap=192)
    dets = tiled.detect(canvas)
    assert len(dets) == 3
    whole = CenterFace(threshold=0.3).detect(portraits)
    shifted = whole.boxes + np.array([1900, 700, 1900, 700], np.float32)
    assert (iou_matrix(shifted, dets.boxes).max(axis=1) > 0.85).all()


def test_resized_and_mirrored_views_map_boxes_back(portraits: np.ndarray) -> None:
    from veil.detect.multiscale import Mirrored, Resized

    plain = CenterFace(threshold=0.3).detect(portraits)
    for view in (Mirrored(CenterFace(threshold=0.3)), Resized(CenterFace(threshold=0.3), 0.5)):
        dets = view.detect(portraits)
        assert len(dets) == 3
        assert (iou_matrix(plain.boxes, dets.boxes).max(axis=1) > 0.7).all()


def test_zero_area_boxes_are_dropped() -> None:
    from veil.detect.base import Detections
    from veil.detect.ensemble import fuse

    dets = Detections.of(np.array([[5, 5, 5, 9], [0, 0, 10, 10]]), np.array([0.9, 0.8]), "x")
    assert len(dets) == 1
    assert np.isfinite(fuse(dets, 0.4).boxes).all()


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_a_turned_view_finds_turned_faces_where_they_are(
    portraits: np.ndarray, turns: int
) -> None:
    """The photo lies turned by `turns` quarter turns; the view turning it back finds the
    three faces, with boxes in the turned photo's own pixels."""
    from veil.detect.multiscale import Rotated

    detector = CenterFace(threshold=0.3, threads=1)
    upright = detector.detect(portraits).boxes
    height, width = portraits.shape[:2]
    turned = np.ascontiguousarray(np.rot90(portraits, turns))
    found = Rotated(detector, 4 - turns).detect(turned).boxes
    x1, y1, x2, y2 = (upright[:, i] for i in range(4))
    expected = {  # where each upright box lies in the turned photo
        1: np.stack([y1, width - x2, y2, width - x1], axis=1),
        2: np.stack([width - x2, height - y2, width - x1, height - y1], axis=1),
        3: np.stack([height - y2, x1, height - y1, x2], axis=1),
    }[turns]
    assert len(found) == 3 and (iou_matrix(expected, found).max(axis=1) > 0.8).all()
