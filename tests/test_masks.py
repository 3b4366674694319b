"""Masks are pure functions of an image and regions."""

from __future__ import annotations

import numpy as np

from veil.masks import (
    SURE_MARGIN_SHARE,
    SURE_SCORE,
    VERY_SURE_MARGIN_SHARE,
    VERY_SURE_SCORE,
    coverage,
    draw_masks,
    mask_rect,
)
from veil.options import MaskOptions
from veil.plan import Region, VideoPlan, VideoTrack


def _noise(h: int = 200, w: int = 300) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_ellipse_with_no_margin_covers_the_inner_sixty_percent() -> None:
    region = Region(100, 50, 160, 130, source="centerface")
    cov = coverage(200, 300, [region], margin=0.0, shape="ellipse")
    inner = cov[50 + 16 : 130 - 16, 100 + 12 : 160 - 12]
    assert inner.mean() > 0.97


def test_margin_grows_the_mask_and_clips_at_the_edge() -> None:
    region = Region(0, 0, 40, 40, score=0.1, source="centerface")
    small = coverage(200, 300, [region], 0.0, "box").sum()
    large = coverage(200, 300, [region], 0.5, "box").sum()
    assert small == 1600 and large == 60 * 60  # grown by 20 px each side, clipped at 0


def test_sure_detections_get_a_tighter_margin_and_audit_finds_the_whole_one() -> None:
    def side(score: float, source: str = "centerface") -> float:
        region = Region(100, 100, 140, 140, score=score, source=source)
        return float(np.sqrt(coverage(300, 300, [region], 0.5, "box").sum()))

    assert side(SURE_SCORE - 0.01) == 80  # weak: 20 px each side
    assert side(SURE_SCORE) == 40 + 2 * 20 * SURE_MARGIN_SHARE  # sure: 12 px each side
    assert side(VERY_SURE_SCORE - 0.01) == 40 + 2 * 20 * SURE_MARGIN_SHARE
    assert side(VERY_SURE_SCORE) == 40 + 2 * 20 * VERY_SURE_MARGIN_SHARE  # 10 px each side
    assert side(0.9, "audit") == 80  # a leak the audit found: where the plan went wrong
    assert side(0.9, "person") == 40  # drawn by a person: as drawn


def test_video_regions_get_the_sure_margin_only_in_their_sure_frames() -> None:
    box = [100.0, 100.0, 140.0, 140.0]
    plan = VideoPlan(300, 300, 2, [VideoTrack(1, {0: box, 1: box}, score=0.99, sure={1})])
    guessed, sure = (coverage(300, 300, regions, 0.5, "box").sum()
                     for regions in plan.regions_by_frame())
    assert guessed == 80 * 80  # however sure the track: 20 px each side, not the sure 10
    assert sure == (40 + 2 * 20 * VERY_SURE_MARGIN_SHARE) ** 2


def test_mosaic_is_coarse_and_noisy() -> None:
    img = np.zeros((200, 300, 3), np.uint8) + 100
    out = img.copy()
    draw_masks(
        out, [Region(80, 40, 240, 200)], MaskOptions(style="mosaic", shape="box", margin=0.0)
    )
    face = out[40:200, 80:240].astype(int)
    # uniform input, yet cells differ: noise was added, so averaging cannot recover the face
    assert len(np.unique(face.reshape(-1, 3), axis=0)) > 4
    row_changes = int((np.abs(np.diff(face[80], axis=0)).sum(axis=1) > 0).sum())
    assert row_changes <= 9  # at most about 8 cells across


def test_keep_regions_are_not_drawn_by_render() -> None:
    import veil
    from veil.plan import ImagePlan

    img = _noise()
    plan = ImagePlan(300, 200, [Region(10, 10, 50, 50, keep=True), Region(100, 100, 150, 150)])
    out = veil.render_image(img, plan, MaskOptions(shape="box", margin=0.0))
    assert (out[10:50, 10:50] == img[10:50, 10:50]).all()
    assert (out[100:150, 100:150] == 0).all()


def test_rgba_masks_become_opaque() -> None:
    img = np.zeros((50, 50, 4), np.uint8)
    draw_masks(
        img,
        [Region(10, 10, 30, 30)],
        MaskOptions(shape="box", margin=0.0, color=(255, 255, 255)),
    )
    assert (img[10:30, 10:30] == 255).all()


def test_a_region_a_person_drew_is_covered_as_drawn() -> None:
    """No detector margin and no ellipse on a hand-drawn box, unless the region asks."""
    options = MaskOptions(shape="ellipse", margin=0.25)
    drawn = coverage(200, 300, [Region(100, 50, 160, 130, source="person")], 0.25, "ellipse")
    assert drawn.sum() == 60 * 80 and drawn[50:130, 100:160].all()  # the box, corners too
    img = _noise()
    draw_masks(img, [Region(100, 50, 160, 130)], options)  # source defaults to "person"
    assert (img[50:130, 100:160] == 0).all() and (img[49, 100:160] != 0).any()
    detected = coverage(200, 300, [Region(100, 50, 160, 130, source="centerface")], 0.25,
                        "ellipse")
    assert not detected[31, 86] and detected[40, 130]  # an ellipse, grown past the box
    asked = Region(100, 50, 160, 130, shape="ellipse", margin=0.5)
    assert coverage(200, 300, [asked], 0.0, "box")[30, 130]  # its own shape and margin


def test_a_plan_region_carries_its_shape_and_margin() -> None:
    import pytest

    from veil import VeilError
    from veil.plan import ImagePlan

    plan = ImagePlan.from_json(
        {"media": "image", "width": 300, "height": 200,
         "regions": [{"box": [1, 2, 30, 40], "shape": "ellipse", "margin": 0.1}]}
    )
    assert plan.regions[0].shape == "ellipse" and plan.regions[0].margin == 0.1
    assert plan.to_json()["regions"][0]["shape"] == "ellipse"
    for bad in ({"shape": "star"}, {"margin": -1}, {"margin": "1"}):
        with pytest.raises(VeilError, match="region's"):
            ImagePlan.from_json({"media": "image", "width": 300, "height": 200,
                                 "regions": [{"box": [1, 2, 30, 40], **bad}]})


def test_every_style_covers_the_same_pixels_in_rgb_and_rgba() -> None:
    regions = [Region(30, 20, 200, 180), Region(150, 100, 290, 195), Region(5, 5, 9, 9)]
    for style in ("solid", "mosaic", "blur"):
        rgb, rgba = _noise(), np.dstack([_noise(), np.zeros((200, 300), np.uint8)])
        options = MaskOptions(style=style)
        draw_masks(rgb, regions, options)
        draw_masks(rgba, regions, options)
        covered = coverage(200, 300, regions, options.margin, options.shape)
        assert np.array_equal(rgba[..., 3] == 255, covered)
        assert np.array_equal((rgb != _noise()).any(axis=2) | covered, covered)


def test_a_part_of_a_frame_is_painted_as_the_whole_frame_would_be_there() -> None:
    """Video paints each mask on a crop of the frame (media/video.py converts only the
    boxes): the same pixels, for every style that does not draw noise and every shape."""
    regions = [Region(30.4, 20.7, 200.2, 180.9, score=0.5, source="centerface"),
               Region(150, 100, 290, 195, source="centerface")]
    for style in ("solid", "blur"):
        for shape in ("ellipse", "box"):
            options = MaskOptions(style=style, shape=shape)
            whole = _noise()
            draw_masks(whole, regions[:1], options)
            x1, y1, x2, y2 = mask_rect(regions[0], options, 300, 200)
            ox, oy = x1 - x1 % 2, y1 - y1 % 2
            part = _noise()[oy:y2 + 1, ox:x2 + 1].copy()
            draw_masks(part, regions[:1], options, origin=(ox, oy), frame=(300, 200))
            assert np.array_equal(part, whole[oy:y2 + 1, ox:x2 + 1])
            # a part that holds only some of a mask gets that much of it, and nothing else
            cut = _noise()[100:150, 120:180].copy()
            draw_masks(cut, regions, options, origin=(120, 100), frame=(300, 200))
            covered = coverage(200, 300, regions, options.margin, shape)[100:150, 120:180]
            changed = (cut != _noise()[100:150, 120:180]).any(axis=2)
            assert not (changed & ~covered).any() and changed.mean() > 0.5
            if style == "solid":
                both = _noise()
                draw_masks(both, regions, options)
                assert np.array_equal(cut, both[100:150, 120:180])
