"""The video detection schedule: full views of the frame only where they are needed, and
every face already found followed on every frame by a close look around it.

Frames come in segments of `ScheduleOptions.every` frames (fewer where the full view is
small: `Looks.every`) with a full view at each end (a keyframe). Between them, each frame
gets one of:

- a full view, when most of it changed since it was last looked at (a cut, a fast pan);
- else a proof of what cannot have changed: a small grey copy of the frame is compared,
  after the camera's own shift, with what was last looked at there. Tiles that changed are
  looked at again at the full view's scale; where nothing changed, the last look's boxes
  still hold (moved with the camera), since nothing new can have appeared there.

And every face found surely is followed to the next frame by the detector on a crop around
it, scaled so the face is at least FOLLOW_HEIGHT pixels tall, upright and, where it is lost
upright, turned 90 degrees either way (a face tilting onto its side): forwards from each
full view and backwards from the next one, until it is lost. No frame goes unlooked at.

Faces lying on their side are looked for at every `sideways_every`-th frame by the view
turned both ways. Those turned looks are scheduled the same way, one sideways keyframe to
the next: the whole frame turned at least every `sideways_whole_every` frames, and between,
only what changed since the last turned look (the rest still holds what that look found,
moved with the camera).

On a GPU (GPU_SCHEDULE) nothing is compared: every frame gets a full view, and the faces it
loses are followed as above.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np

from ..detect.base import Detections, Detector, iou_matrix
from ..detect.ensemble import Ensemble, fuse
from ..detect.multiscale import Resized, Rotated, SizeBandThresholds, around
from ..detect.text import FoundText
from ..plan import AUDIT
from .cuts import colour_signature, scene_cuts
from .models import TextFinder, run_detector

# The compared copy is this many times smaller than the frame on each side, or more where
# the detector's view is smaller still (a 4K frame seen for 30 px faces): the copy is kept
# at SMALL_OF_VIEW of the view, so tiles, blocks and their reach hold as much of what the
# detector sees at any frame size (1080p for 15 px faces: a 1280x720 view, a 480x270 copy).
SMALL = 4
SMALL_OF_VIEW = 0.375
TILE = 16  # compared in tiles of this many small pixels (64 frame pixels at 1080p)
BLOCK = 4  # changed tiles are looked at again in blocks of this many tiles a side
# Grey levels (on the small copy, after a 3x3 blur) that count as a change: H.264 noise on
# a still scene stays under 6; a face appearing, even 15 px tall, moves its pixels by tens.
CHANGE_LEVEL = 12
SMALL_VIEW = 0.5  # a full view at this scale of the frame or less costs a quarter of it
FULL_SHARE = 0.6  # past this share of the frame to look at again, a full view instead
MIN_CORNERS = 12  # fewer followed corners than this: no camera motion can be told
FOLLOW_SCORE = 0.3  # faces found this surely are followed frame to frame
FOLLOW_HEIGHT = 32.0  # a followed face is seen at least this tall (at most 2x upsampled)
FOLLOW_REACH = 1.0  # the crop reaches this share of the face's size past it on each side
SAME_FACE_IOU = 0.4  # boxes from two looks this close are one face
LOST_IOU = 0.2  # a sure face with no box this close in the next look is lost there


@dataclass(frozen=True)
class ScheduleOptions:
    every: int = 8  # a full view at least every this many frames (1: every frame)
    # and every this many (a divisor of `every`) where the view is SMALL_VIEW of the frame
    # or smaller (4K for 30 px faces): every 8, the 4K clips lost faces that full views of
    # every frame kept (docs/benchmarks.md, "Keyframes at 4K").
    every_small_view: int = 4
    # Between keyframes, compare each frame with what was looked at and look again only
    # where it changed (False: a full view of every frame, where views are cheap: a GPU).
    compare: bool = True
    # Turned whole-frame views at keyframes, every this many frames (0: never): faces lying
    # on their side from the start (a clip stored sideways) get found and then followed.
    sideways_every: int = 8
    # The whole frame turned at least every this many frames (a multiple of sideways_every,
    # 0: at every sideways keyframe; spans of a video start on it); between, the turned
    # looks see only what changed since the last.
    sideways_whole_every: int = 64
    sideways_seed: float = 0.3  # a turned view's find that may start a track
    # The leak audit (with an auditor): its whole-frame view on one frame in this many (the
    # middle of a segment), and close up where a sure face's track starts or ends.
    audit_every: int = 32
    # Plates and lines of text (--cover) are looked for on every this many frames (a
    # divisor of `every`) and tracked between (docs/benchmarks.md, plates in video).
    text_every: int = 4


# On a GPU a full view costs the CPU next to nothing (the frame goes up, boxes come back),
# while comparing frames and looking at their changed parts is CPU work: every frame is seen
# whole there, and the turned views are whole at every sideways keyframe.
GPU_SCHEDULE = ScheduleOptions(compare=False, sideways_whole_every=0)


def schedule_for(device: str) -> ScheduleOptions:
    """The schedule for detectors on `device` (cuda: GPU_SCHEDULE)."""
    return GPU_SCHEDULE if device == "cuda" else ScheduleOptions()


class Looks:
    """The detectors one video's schedule runs, and a count of what each look cost."""

    def __init__(self, detector: Detector, options: ScheduleOptions,
                 auditor: Detector | None = None, text: TextFinder | None = None) -> None:
        self.detector = detector
        self.options = options
        self.every = _keyframe_every(detector, options)  # frames from a keyframe to the next
        self.auditor = auditor
        self.text = text  # plates and lines to cover (--cover), or None: faces only
        self.text_found: dict[int, list[FoundText]] = {}  # frame index -> what text found
        self.audit_frames = 0  # frames the auditor looked at whole
        self.found: list[list[float]] = []  # [frame, x1, y1, x2, y2] of each audit find
        self.sideways = Ensemble([Rotated(detector, 1), Rotated(detector, 3)])
        self.follower = _follower(detector)
        self.shrink = shrink(detector)
        self.counts: Counter[str] = Counter()
        self.seconds: dict[str, float] = defaultdict(float)
        # each frame's colours (frame index -> cuts.colour_signature): where scenes cut
        self.signatures: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def colours(self) -> list[np.ndarray]:
        """Each frame's colour signature, in frame order (cuts.scene_cuts reads them)."""
        return [self.signatures[i] for i in sorted(self.signatures)]

    def lines(self, index: int, frame: np.ndarray) -> None:
        """The plates and lines of text (as --cover asks) in one frame."""
        assert self.text is not None
        with self.cost("text", frame.shape[0] * frame.shape[1]):
            found = self.text(frame)
        with self._lock:
            self.text_found[index] = found

    @contextmanager
    def cost(self, what: str, pixels: float = 0) -> Iterator[None]:
        """Count one look of a kind, its pixels and the CPU time its thread spent on it
        (bench/video.py prints them per frame)."""
        began = time.thread_time()
        try:
            yield
        finally:
            spent = time.thread_time() - began
            with self._lock:
                self.counts[what] += 1
                self.counts[what + " pixels"] += int(pixels)
                self.seconds[what] += spent

    def view(self, frame: np.ndarray, turned: bool = False) -> Detections:
        """The whole frame at the view's scale, upright or turned both ways (only the turned
        views' sure finds: faint ones would be blots of background)."""
        if not turned:
            with self.cost("full views", frame.shape[0] * frame.shape[1]):
                return run_detector(self.detector, frame)
        with self.cost("sideways views", 2 * frame.shape[0] * frame.shape[1]):
            return self.sure(run_detector(self.sideways, frame))

    def regions(self, frame: np.ndarray, boxes: list[tuple[int, int, int, int]],
                turned: bool = False) -> Detections:
        """The full view's detector on parts of the frame (turned: both ways, sure finds
        only), boxes in frame pixels."""
        found = []
        what, detector = ("sideways regions", self.sideways) if turned else (
            "changed regions", self.detector)
        for x1, y1, x2, y2 in boxes:
            with self.cost(what, (1 + turned) * (x2 - x1) * (y2 - y1)):
                dets = run_detector(detector, frame[y1:y2, x1:x2])
            found.append((self.sure(dets) if turned else dets).shifted(x1, y1))
        return Detections.concat(found)

    def sure(self, dets: Detections) -> Detections:
        return dets.select(np.flatnonzero(dets.scores >= self.options.sideways_seed))

    def turned(self, index: int, frame: np.ndarray,
               before: Future[Seen | None] | None) -> Seen | None:
        """The turned looks up to keyframe `index` (`before`: up to the last sideways
        keyframe; None at a span's start): at a sideways keyframe, the whole frame turned
        or what changed since the last turned look; elsewhere what `before` held."""
        last = None if before is None else before.result()
        every, whole = self.options.sideways_every, self.options.sideways_whole_every
        if not every or index % every:
            return last
        if last is None or not whole or index % whole == 0:
            return first_seen(self, frame, self.view(frame, turned=True))
        return step(self, frame, last, turned=True)[1]

    def keyframe(self, index: int, frame: np.ndarray,
                 turned: Future[Seen | None] | None = None) -> Detections:
        """A keyframe's boxes: the whole frame upright and, at sideways keyframes, the faces
        the turned looks hold (`turned`: Looks.turned for this keyframe)."""
        dets = self.view(frame)
        every = self.options.sideways_every
        last = None if turned is None else turned.result()
        if last is None or not every or index % every:
            return dets
        return fuse(Detections.concat([dets, last.dets]), SAME_FACE_IOU)

    def follow(self, frame: np.ndarray, known: Detections, present: Detections) -> Detections:
        """Each sure face of `known` that no box of `present` overlaps, looked for again in
        this frame close up (where the view lost it: too small for it, or turned)."""
        found = []
        lost = (known.scores >= FOLLOW_SCORE) & ~_overlaps(known, present, LOST_IOU)
        for box in known.boxes[lost]:
            found.append(self._follow_one(frame, box))
        return Detections.concat(found)

    def _follow_one(self, frame: np.ndarray, box: np.ndarray) -> Detections:
        dets = self._close_up(self.follower, frame, box, "follow crops")
        if not len(dets):  # lost upright: maybe it tilted onto its side
            dets = self._close_up(self.follower, frame, box, "turned follow crops", turned=True)
        return dets

    def _close_up(self, detector: Detector, frame: np.ndarray, box: np.ndarray, what: str,
                  turned: bool = False) -> Detections:
        """`detector` on a crop around `box`, scaled so the face is FOLLOW_HEIGHT tall
        (upright, or turned 90 degrees both ways)."""
        cropped = around(frame, box, FOLLOW_REACH)
        if cropped is None:
            return Detections()
        crop, x1, y1 = cropped
        scale = min(2.0, FOLLOW_HEIGHT / max(box[3] - box[1], box[2] - box[0], 1.0))
        view: Detector = Resized(detector, scale)
        if turned:
            view = Ensemble([Rotated(view, 1), Rotated(view, 3)])
        with self.cost(what, (1 + turned) * crop.shape[0] * crop.shape[1] * scale * scale):
            dets = run_detector(view, crop)
        return dets.shifted(x1, y1)

    def audit(self, index: int, frame: np.ndarray, dets: Detections,
              near: Detections | None = None) -> Detections:
        """The auditor's look at a frame (whole, or close up around each box of `near`):
        what it finds that `dets` does not hold already, counted as found."""
        if self.auditor is None:
            return Detections()
        if near is None:
            with self.cost("audit views", frame.shape[0] * frame.shape[1]):
                seen = run_detector(self.auditor, frame)
            with self._lock:
                self.audit_frames += 1
        else:
            seen = Detections.concat([self._close_up(self.auditor, frame, box, "audit crops")
                                      for box in near.boxes])
        new = seen.select(np.flatnonzero(~_overlaps(seen, dets, LOST_IOU)))
        new = Detections(new.boxes, new.scores, [AUDIT] * len(new))
        with self._lock:
            self.found += [[index, *(round(float(v), 1) for v in box)] for box in new.boxes]
        return new


def _keyframe_every(detector: Detector, options: ScheduleOptions) -> int:
    """Frames from a keyframe to the next: `every`, or `every_small_view` where the full
    view sees the frame at SMALL_VIEW of its size or less."""
    every = max(1, options.every)
    if _model_and_scale(detector)[1] <= SMALL_VIEW:
        return min(every, max(1, options.every_small_view))
    return every


def _follower(detector: Detector) -> Detector:
    """The view's own model and size-band thresholds, without its resize (each follow crop
    has its own scale)."""
    bands = detector.thresholds if isinstance(detector, SizeBandThresholds) else None
    model, _ = _model_and_scale(detector)
    return model if bands is None else SizeBandThresholds(model, tuple(bands.tolist()))


def _model_and_scale(detector: Detector) -> tuple[Detector, float]:
    """The model inside a view (its wrappers taken off) and the scale the view sees at."""
    scale = 1.0
    while hasattr(detector, "inner"):
        scale *= getattr(detector, "scale", 1.0) or 1.0
        detector = detector.inner
    return detector, scale


def shrink(detector: Detector) -> int:
    """How many times smaller than the frame the compared copy is, on each side, for a
    detector that sees the frame at its own scale."""
    _, scale = _model_and_scale(detector)
    return max(SMALL, round(1 / (scale * SMALL_OF_VIEW)))


def small_copy(frame: np.ndarray, factor: int = SMALL) -> np.ndarray:
    """The frame `factor` times smaller on each side, in grey: what changes are measured
    on."""
    height, width = frame.shape[:2]
    size = (max(1, width // factor), max(1, height // factor))
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)


def camera_motion(anchor: np.ndarray, now: np.ndarray) -> np.ndarray | None:
    """How the picture moved from one small copy to another (a pan, a zoom, a turn: a
    2 x 3 similarity matrix in small pixels), from corners followed by optical flow and
    fitted robustly (moving people do not count); None when no such motion explains it (a
    cut, too little texture)."""
    if anchor.shape != now.shape or min(anchor.shape) < 16:
        return None
    before = np.clip(anchor, 0, 255).astype(np.uint8)
    after = np.clip(now, 0, 255).astype(np.uint8)
    corners = cv2.goodFeaturesToTrack(before, maxCorners=300, qualityLevel=0.01, minDistance=6)
    if corners is None or len(corners) < MIN_CORNERS:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(before, after, corners,
                                               None, winSize=(21, 21), maxLevel=3)  # type: ignore[call-overload, unused-ignore]
    found = np.asarray(status).ravel() == 1
    if found.sum() < MIN_CORNERS:
        return None
    matrix, inliers = cv2.estimateAffinePartial2D(corners[found], moved[found],
                                                  method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if matrix is None or inliers.sum() < max(MIN_CORNERS, 0.3 * found.sum()):
        return None
    return np.asarray(matrix, np.float32)


def warped(image: np.ndarray, matrix: np.ndarray, fill: float | None = None) -> np.ndarray:
    """`image` moved by a 2 x 3 matrix (bilinear); where nothing moved in, `fill`, or the
    nearest edge pixel when None."""
    height, width = image.shape[:2]
    border = cv2.BORDER_REPLICATE if fill is None else cv2.BORDER_CONSTANT
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=border, borderValue=0 if fill is None else fill)


def changed_tiles(seen: np.ndarray, motion: np.ndarray, now: np.ndarray) -> np.ndarray:
    """Per tile: did anything change between what was looked at (`seen`, NaN where nothing
    was, moved by `motion`) and now? Both are blurred a little first, so the part of a
    pixel the camera moved by does not count; a pixel with nothing looked at (it came into
    view) counts as changed."""
    known = warped((~np.isnan(seen)).astype(np.float32), motion, fill=0) > 0.99
    known = cv2.erode(known.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # the blur's reach
    looked = warped(np.nan_to_num(seen), motion)
    diff = np.abs(cv2.GaussianBlur(looked, (5, 5), 1.0) - cv2.GaussianBlur(now, (5, 5), 1.0))
    diff[~known] = 255.0
    height, width = diff.shape
    rows, cols = -(-height // TILE), -(-width // TILE)
    padded = np.zeros((rows * TILE, cols * TILE), np.float32)
    padded[:height, :width] = diff
    return np.asarray(padded.reshape(rows, TILE, cols, TILE).max(axis=(1, 3)) > CHANGE_LEVEL)


def tile_regions(tiles: np.ndarray, frame_shape: tuple[int, ...],
                 factor: int = SMALL) -> list[tuple[int, int, int, int]]:
    """Rectangles (frame pixels) to look at again: the frame in blocks of BLOCK x BLOCK
    tiles, each run of blocks in a row that holds a changed tile as one rectangle, reaching
    half a tile past it (a face straddling its edge is seen with its surroundings). Few,
    wide rectangles: each look has a fixed cost besides its pixels."""
    rows, cols = -(-tiles.shape[0] // BLOCK), -(-tiles.shape[1] // BLOCK)
    padded = np.zeros((rows * BLOCK, cols * BLOCK), bool)
    padded[:tiles.shape[0], :tiles.shape[1]] = tiles
    blocks = np.asarray(padded.reshape(rows, BLOCK, cols, BLOCK).any(axis=(1, 3)))
    step = BLOCK * TILE * factor
    reach = TILE * factor // 2
    height, width = frame_shape[:2]
    boxes = []
    for row in range(rows):
        changed = np.flatnonzero(np.diff(np.concatenate([[0], blocks[row], [0]]).astype(int)))
        for first, end in zip(changed[::2], changed[1::2], strict=True):
            boxes.append((max(0, first * step - reach), max(0, row * step - reach),
                          min(width, end * step + reach), min(height, (row + 1) * step + reach)))
    return [b for b in boxes if b[2] - b[0] >= 8 and b[3] - b[1] >= 8]


@dataclass
class Seen:
    """What was last looked at: a small copy in the keyframe's place (each part as of its
    last look; NaN where nothing was), how the picture has moved since the keyframe (2 x 3,
    small pixels), and the boxes of the last frame, where they were in it."""

    small: np.ndarray
    motion: np.ndarray
    dets: Detections


STILL = np.array([[1, 0, 0], [0, 1, 0]], np.float32)


def first_seen(looks: Looks, frame: np.ndarray, dets: Detections) -> Seen:
    return Seen(small_copy(frame, looks.shrink), STILL, dets)


def step(looks: Looks, frame: np.ndarray, seen: Seen, turned: bool = False,
         cut: bool = False) -> tuple[Detections, Seen]:
    """One frame between keyframes (or one sideways keyframe after the last, `turned`): its
    boxes, and what has now been looked at. After a scene cut (`cut`: this frame starts a
    scene) the frame is looked at whole and nothing found before it is carried or followed:
    a close look where a face was in the other scene finds only faint fragments there."""
    if cut:
        return _looked_whole(looks, frame, Detections(), turned, small_copy(frame, looks.shrink))
    if not looks.options.compare:  # nothing compared: the small copy is never read
        return _looked_whole(looks, frame, seen.dets, turned, seen.small)
    with looks.cost("comparisons"):
        small = small_copy(frame, looks.shrink)
        motion = camera_motion(np.nan_to_num(seen.small), small)
        if motion is not None:
            tiles = changed_tiles(seen.small, motion, small)
            regions = tile_regions(tiles, frame.shape, looks.shrink)
    area = 0 if motion is None else sum((x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in regions)
    carried = seen.dets if motion is None else _moved(
        seen.dets, _compose(motion, seen.motion, looks.shrink))
    if motion is None or area > FULL_SHARE * frame.shape[0] * frame.shape[1]:
        return _looked_whole(looks, frame, carried, turned, small)
    found = looks.regions(frame, regions, turned)
    looked_again = _centres_in(carried, regions)
    followed = looks.follow(frame, carried.select(np.flatnonzero(looked_again)), found)
    if turned:  # the turned looks hold sure finds only, as their views keep
        followed = looks.sure(followed)
    # A look replaces only the boxes it saw whole: one that a region's edge cuts stays, or
    # the part of a face the region held (a box cut at its edge) would stand for all of it.
    replaced = _wholly_in(carried, regions, frame.shape)
    dets = fuse(Detections.concat([carried.select(np.flatnonzero(~replaced)), found,
                                   followed]), SAME_FACE_IOU)
    # What the keyframe's copy now holds: looked-at tiles take this frame's pixels, moved
    # back to the keyframe's place.
    now = np.repeat(np.repeat(tiles, TILE, 0), TILE, 1)[:small.shape[0], :small.shape[1]]
    back = warped(np.where(now, small, np.nan).astype(np.float32),
                  cv2.invertAffineTransform(motion), fill=np.nan)
    return dets, Seen(np.where(np.isnan(back), seen.small, back), motion, dets)


def _looked_whole(looks: Looks, frame: np.ndarray, carried: Detections, turned: bool,
                  small: np.ndarray) -> tuple[Detections, Seen]:
    """A full view of a frame between keyframes, with the sure faces of `carried` it lost
    followed close up."""
    full = looks.view(frame, turned)
    followed = looks.follow(frame, carried, full)
    dets = fuse(Detections.concat([full, looks.sure(followed) if turned else followed]),
                SAME_FACE_IOU)
    return dets, Seen(small, STILL, dets)


def _compose(now: np.ndarray, before: np.ndarray, factor: int) -> np.ndarray:
    """The motion from the frame `before` was measured at to the frame `now` was, in frame
    pixels (both are from the keyframe, in small pixels)."""
    undo = np.vstack([cv2.invertAffineTransform(before), [0, 0, 1]])
    step = np.vstack([now, [0, 0, 1]]) @ undo
    step[:2, 2] *= factor
    return step[:2]


def _moved(dets: Detections, matrix: np.ndarray) -> Detections:
    """Boxes taken where a motion moves them (the box around the moved corners)."""
    x1, y1, x2, y2 = (dets.boxes[:, i] for i in range(4))
    corners = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x1, y2], 1),
                        np.stack([x2, y2], 1)], 1)  # boxes x 4 x 2
    moved = corners @ matrix[:, :2].T + matrix[:, 2]
    boxes = np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1).astype(np.float32)
    return Detections(boxes.reshape(-1, 4), dets.scores, dets.sources)


def _centres_in(dets: Detections, regions: list[tuple[int, int, int, int]]) -> np.ndarray:
    cx = (dets.boxes[:, 0] + dets.boxes[:, 2]) / 2
    cy = (dets.boxes[:, 1] + dets.boxes[:, 3]) / 2
    inside = np.zeros(len(dets), bool)
    for x1, y1, x2, y2 in regions:
        inside |= (cx >= x1) & (cx < x2) & (cy >= y1) & (cy < y2)
    return inside


def _wholly_in(dets: Detections, regions: list[tuple[int, int, int, int]],
               shape: tuple[int, ...]) -> np.ndarray:
    """Which boxes lie wholly in one of `regions` (the part of each inside the frame)."""
    boxes = dets.boxes.copy()
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, shape[1])
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, shape[0])
    inside = np.zeros(len(dets), bool)
    for x1, y1, x2, y2 in regions:
        inside |= ((boxes[:, 0] >= x1) & (boxes[:, 1] >= y1) & (boxes[:, 2] <= x2)
                   & (boxes[:, 3] <= y2))
    return inside


def _overlaps(dets: Detections, other: Detections, iou: float) -> np.ndarray:
    if not len(dets) or not len(other):
        return np.zeros(len(dets), bool)
    return np.asarray(iou_matrix(dets.boxes, other.boxes).max(axis=1) > iou)


def segment(looks: Looks, frames: list[np.ndarray], first: Detections,
            last: Detections | None, start: int = 0) -> list[Detections]:
    """Boxes for frames[0] (frame `start` of the video, a keyframe, found `first`) up to
    the frame before the next keyframe (frames[-1], found `last`; None: frames run to the
    video's end), audited when the looks have an auditor."""
    inner = frames[1:-1] if last is not None else frames[1:]
    out = [first]
    seen = first_seen(looks, frames[0], first)
    cuts = _cuts_in(looks, frames, start)
    for offset, frame in enumerate(inner, 1):
        dets, seen = step(looks, frame, seen, cut=offset in cuts)
        out.append(dets)
    if last is not None:
        _follow_back(looks, frames, out, last, cuts)
    if looks.auditor is not None:
        _audit(looks, frames[:len(out)], out, start)
    return out


def _cuts_in(looks: Looks, frames: list[np.ndarray], start: int) -> set[int]:
    """The frames of a segment (offsets from its first, frame `start`) that start a scene,
    judged from the segment's own colours (cuts.scene_cuts; the plan's cuts come from every
    frame's), so that a span of a video finds what the whole run finds."""
    signatures = [looks.signatures.get(start + k) for k in range(len(frames))]
    return set(scene_cuts([colour_signature(frame) if signature is None else signature
                           for frame, signature in zip(frames, signatures, strict=True)]))


def _follow_back(looks: Looks, frames: list[np.ndarray], out: list[Detections],
                 last: Detections, cuts: set[int]) -> None:
    """Backwards from the next keyframe (found `last`): its sure faces, where lost, up to a
    scene cut (`cuts`: offsets of frames that start a scene)."""
    known = last.select(np.flatnonzero(last.scores >= FOLLOW_SCORE))
    for offset in range(len(out) - 1, 0, -1):
        if offset + 1 in cuts:
            break
        here = out[offset]
        found = looks.follow(frames[offset], known, here)
        out[offset] = fuse(Detections.concat([here, found]), SAME_FACE_IOU)
        still = here.select(np.flatnonzero(_overlaps(here, known, LOST_IOU)))
        known = Detections.concat([still, found])
        known = known.select(np.flatnonzero(known.scores >= FOLLOW_SCORE))
        if not len(known):
            break


def _audit(looks: Looks, frames: list[np.ndarray], out: list[Detections], start: int) -> None:
    """The leak audit of a segment: the auditor's whole view of its middle frame (one frame
    in `audit_every`), and a close look where a sure face appears (on the frame before) or
    goes (on the frame it went from); what it finds joins that frame's boxes."""
    keyframes = looks.every
    every = max(1, looks.options.audit_every // keyframes)  # in segments
    if looks.options.audit_every and (start // keyframes) % every == 0:
        middle = len(out) // 2
        out[middle] = _joined(out[middle], looks.audit(start + middle, frames[middle],
                                                       out[middle]))
    for k in range(1, len(out)):
        before, now = out[k - 1], out[k]
        sure_before = before.select(np.flatnonzero(before.scores >= FOLLOW_SCORE))
        sure_now = now.select(np.flatnonzero(now.scores >= FOLLOW_SCORE))
        starts = sure_now.select(np.flatnonzero(~_overlaps(sure_now, before, LOST_IOU)))
        ends = sure_before.select(np.flatnonzero(~_overlaps(sure_before, now, LOST_IOU)))
        if len(starts):
            out[k - 1] = _joined(out[k - 1], looks.audit(start + k - 1, frames[k - 1],
                                                         out[k - 1], starts))
        if len(ends):
            out[k] = _joined(out[k], looks.audit(start + k, frames[k], out[k], ends))


def _joined(dets: Detections, found: Detections) -> Detections:
    return Detections.concat([dets, found]) if len(found) else dets
