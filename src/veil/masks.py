"""Drawing masks: pure functions of an image and the regions to cover.

solid and mosaic (with noise) are irreversible; blur is opt-in because learned models can
partly undo it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np

from .detect.confirm import CONFIRMED
from .options import MaskOptions
from .plan import AUDIT, Region

MaskShape = Literal["ellipse", "box"]
MOSAIC_MAX_CELLS = 8  # at most about 8 cells across a face
MOSAIC_MIN_CELL = 4  # pixels; below this a "mosaic" would be the face itself
MOSAIC_NOISE = 24  # +- per channel, so cells cannot be averaged back over many frames


# Where the detector is sure of a face (the tracker's confident score), its box is where the
# face is: the mask reaches 60% as far past it. On the 834 dev photos (bench/recall.py) this
# took the masked background from 10.10% to 8.32% and left one face of 2,813 at 24-48 px and
# one of 1,336 at 48-96 px uncovered; weak boxes, most often false but sometimes a hard face
# placed loosely, keep the whole margin (unless the second look confirmed them on their own
# box: detect/confirm.py), as do the audit's finds and a video track's boxes in the frames
# the detector did not place them surely itself (plan.VideoTrack.sure; docs/benchmarks.md).
SURE_SCORE = 0.3
SURE_MARGIN_SHARE = 0.6
# A box scored 0.9 or more (45% of the sure boxes' area on the dev photos; about half of the
# faces 96 px and taller get one) is placed tightly: half the margin. That took the masked
# background from 7.07% to 6.88% and left no face uncovered; the face's own ellipse stayed
# as covered as before but for 0.3 points of the faces 96 px and taller (docs/benchmarks.md).
# 40% of the margin there would gain 0.17 points more and uncover more of large faces' edges.
VERY_SURE_SCORE = 0.9
VERY_SURE_MARGIN_SHARE = 0.5


def geometry(region: Region, margin: float, shape: MaskShape) -> tuple[float, MaskShape]:
    """The margin and shape one region is drawn with. Detections take the run's margin (60%
    of it where the detector was sure or the second look confirmed a weak box, half where it
    scored 0.9 or more, except finds of the leak audit: they are where the plan went wrong);
    a region a person drew is covered as drawn (a box, no margin); a region's own fields
    override both."""
    drawn = region.source == "person"
    if region.margin is not None:
        own_margin = region.margin
    elif drawn:
        own_margin = 0.0
    elif region.score >= VERY_SURE_SCORE and region.source not in (AUDIT, CONFIRMED):
        own_margin = margin * VERY_SURE_MARGIN_SHARE
    elif region.source == CONFIRMED or (region.score >= SURE_SCORE and region.source != AUDIT):
        own_margin = margin * SURE_MARGIN_SHARE
    else:
        own_margin = margin
    own_shape = region.shape if region.shape in ("box", "ellipse") else ("box" if drawn else shape)
    return own_margin, own_shape  # type: ignore[return-value]


def mask_box(region: Region, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The pixel rectangle a region's mask spans: its box grown by `margin` of its size per side.

    Coordinates are rounded outwards and clipped to the image.
    """
    mx, my = region.width * margin, region.height * margin
    x1 = max(0, int(np.floor(region.x1 - mx)))
    y1 = max(0, int(np.floor(region.y1 - my)))
    x2 = min(width, int(np.ceil(region.x2 + mx)))
    y2 = min(height, int(np.ceil(region.y2 + my)))
    return x1, y1, x2, y2


def shape_mask(
    region: Region, box: tuple[int, int, int, int], margin: float, shape: MaskShape
) -> np.ndarray:
    """Boolean mask over `box` (the clipped mask rectangle) for one region."""
    x1, y1, x2, y2 = box
    h, w = y2 - y1, x2 - x1
    if shape == "box":
        return np.ones((h, w), bool)
    # The ellipse is inscribed in the unclipped grown box, so clipping at the frame edge
    # never shrinks it.
    mx, my = region.width * margin, region.height * margin
    cx = (region.x1 + region.x2) / 2 - x1
    cy = (region.y1 + region.y2) / 2 - y1
    ax = region.width / 2 + mx
    ay = region.height / 2 + my
    # a term per column compared with a limit per row: cheaper than np.ogrid's grids and a
    # sum over the whole box (docs/benchmarks.md, "Only the masks leave YUV")
    across = ((np.arange(w) + 0.5 - cx) / ax) ** 2
    limit = 1.0 - ((np.arange(h) + 0.5 - cy) / ay) ** 2
    return np.asarray(across[None, :] <= limit[:, None])


def coverage(
    height: int, width: int, regions: Sequence[Region], margin: float, shape: MaskShape
) -> np.ndarray:
    """Boolean image of every pixel the masks would cover."""
    covered = np.zeros((height, width), bool)
    for region in regions:
        own_margin, own_shape = geometry(region, margin, shape)
        box = mask_box(region, own_margin, width, height)
        x1, y1, x2, y2 = box
        if x2 > x1 and y2 > y1:
            covered[y1:y2, x1:x2] |= shape_mask(region, box, own_margin, own_shape)
    return covered


def mask_rect(region: Region, options: MaskOptions, width: int, height: int
              ) -> tuple[int, int, int, int]:
    """The pixel rectangle draw_masks covers for `region` in a `width` x `height` frame."""
    margin, _ = geometry(region, options.margin, options.shape)
    return mask_box(region, margin, width, height)


def mask_groups(regions: Sequence[Region], options: MaskOptions, width: int, height: int,
                gap: int = 2) -> list[tuple[tuple[int, int, int, int], list[Region]]]:
    """The regions in groups whose masks overlap or come within `gap` pixels of each other
    (so each group paints on its own, in plan order, what the whole frame would get), each
    with the rectangle its masks span."""
    rects = np.array([mask_rect(r, options, width, height) for r in regions], int)
    if not len(rects):
        return []
    x1, y1, x2, y2 = rects.T
    near = ((x1[:, None] < x2[None, :] + gap) & (x1[None, :] < x2[:, None] + gap)
            & (y1[:, None] < y2[None, :] + gap) & (y1[None, :] < y2[:, None] + gap))
    group = np.full(len(rects), -1)
    for first in range(len(rects)):
        if group[first] >= 0:
            continue
        group[first], todo = first, [first]
        while todo:
            found = np.flatnonzero(near[todo.pop()] & (group < 0))
            group[found] = first
            todo.extend(found.tolist())
    out = []
    for label in dict.fromkeys(group.tolist()):
        members = np.flatnonzero(group == label)
        span = (int(x1[members].min()), int(y1[members].min()),
                int(x2[members].max()), int(y2[members].max()))
        out.append((span, [regions[int(i)] for i in members]))
    return out


def draw_masks(
    image: np.ndarray,
    regions: Sequence[Region],
    options: MaskOptions,
    rng: np.random.Generator | None = None,
    origin: tuple[int, int] = (0, 0),
    frame: tuple[int, int] | None = None,
) -> list[tuple[int, int, int, int]]:
    """Cover each region in place; returns the rectangles drawn (for the report).

    `image` is H x W x 3 (RGB) or H x W x 4 (RGBA; covered pixels become opaque). It may
    hold only part of a `frame` (width, height; by default the image is the whole frame),
    its top-left pixel at `origin` (x, y) of the frame: masks are placed and shaped in the
    frame, so the part gets what the whole frame would get there.
    """
    width, height = frame or (image.shape[1], image.shape[0])
    rng = rng if rng is not None else np.random.default_rng()
    boxes = []
    for region in regions:
        margin, shape = geometry(region, options.margin, options.shape)
        box = mask_box(region, margin, width, height)
        if box[2] > box[0] and box[3] > box[1]:
            boxes.append((region, box, margin, shape))
    solid = _solid([b for _, b, _, _ in boxes], options.color)
    for region, box, margin, shape in boxes:
        inside, (x1, y1, x2, y2) = _in_part(shape_mask(region, box, margin, shape), box,
                                            origin, image.shape)
        if not inside.size:
            continue
        roi = image[y1:y2, x1:x2]
        rgb = roi[..., :3]
        if options.style == "solid":
            cover = solid[: y2 - y1, : x2 - x1]
        elif options.style == "mosaic":
            cover = _mosaic(rgb, rng)
        elif options.style == "blur":
            cover = _blur(rgb)
        else:  # pragma: no cover - MaskOptions allows no other style
            raise ValueError(f"unknown mask style {options.style!r}")
        if roi.shape[2] == 4:
            rgb[inside] = cover[inside]
            roi[..., 3][inside] = 255
        else:  # OpenCV copies through a mask in place, far faster than numpy's indexing
            cv2.copyTo(cover, inside.view(np.uint8), rgb)
    return [box for _, box, _, _ in boxes]


def _in_part(inside: np.ndarray, box: tuple[int, int, int, int], origin: tuple[int, int],
             shape: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A frame box's mask and rectangle within the part of the frame an image holds."""
    ox, oy = origin
    x1, y1 = max(box[0] - ox, 0), max(box[1] - oy, 0)
    x2, y2 = min(box[2] - ox, shape[1]), min(box[3] - oy, shape[0])
    if x2 <= x1 or y2 <= y1:
        return inside[:0, :0], (0, 0, 0, 0)
    cut = inside[y1 + oy - box[1]: y2 + oy - box[1], x1 + ox - box[0]: x2 + ox - box[0]]
    return np.ascontiguousarray(cut), (x1, y1, x2, y2)


def _solid(boxes: list[tuple[int, int, int, int]], color: tuple[int, int, int]) -> np.ndarray:
    """One block of the fill colour as large as the largest box (each region copies from
    a corner of it)."""
    h = max((y2 - y1 for _, y1, _, y2 in boxes), default=0)
    w = max((x2 - x1 for x1, _, x2, _ in boxes), default=0)
    block = np.empty((h, w, 3), np.uint8)
    block[:] = color
    return block


def _mosaic(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    cell = max(MOSAIC_MIN_CELL, int(np.ceil(max(h, w) / MOSAIC_MAX_CELLS)))
    cells_x, cells_y = max(1, round(w / cell)), max(1, round(h / cell))
    small = cv2.resize(rgb, (cells_x, cells_y), interpolation=cv2.INTER_AREA).astype(np.int16)
    small += rng.integers(-MOSAIC_NOISE, MOSAIC_NOISE + 1, small.shape, dtype=np.int16)
    small = small.clip(0, 255).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def _blur(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    sigma = max(h, w) / 4
    return cv2.GaussianBlur(rgb, (0, 0), sigmaX=sigma, sigmaY=sigma)
