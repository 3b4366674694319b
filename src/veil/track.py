"""Linking per-frame face boxes into tracks, so masks hold through detector blinks.

Detections are linked frame to frame by overlap; gaps inside a track are filled by
interpolation; each track's mask starts a few frames before its first detection and ends a
few after its last (a face entering the frame, a head turning); boxes are smoothed so masks do
not jitter. Geometry only: nothing here looks at pixels.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .detect.base import Detections, iou_matrix
from .plan import AUDIT


@dataclass(frozen=True)
class TrackOptions:
    link_iou: float = 0.2  # overlap that continues a track from one frame to a later one
    max_gap: int = 15  # frames a track may go undetected and still be one track
    lead: int = 8  # frames the mask appears before the first detection
    tail: int = 8  # and stays after the last one
    smooth: int = 2  # half-width of the moving average over box corners
    # Lead and tail boxes follow the track's motion and widen by this share of their size
    # per frame away from a detection (the face's position grows less certain).
    grow_per_frame: float = 0.04
    # A track seen a few times at low scores only (most often a false detection) gets a
    # short reach, so a stray box does not become a blot that stays for half a second.
    confident_score: float = 0.3
    confident_hits: int = 5
    weak_reach: int = 2


# Lead and tail boxes move as the track's first and last few boxes moved.
MOTION_FRAMES = 5


def settled_after(options: TrackOptions) -> int:
    """How many frames of detections after a frame its boxes can depend on: a gap bridged
    up to the next sighting, a lead from a track first seen later and the motion it is
    extrapolated with, the smoothing window. Beyond them only a track's whole history can
    change a frame's boxes (its hits seen later lengthen a weak track's lead and tail)."""
    return options.max_gap + 1 + options.lead + MOTION_FRAMES + options.smooth


@dataclass
class Track:
    """One face over time: frame index -> (x1, y1, x2, y2, score), and the frames whose box
    only the leak audit found (where the plan had gone wrong)."""

    id: int
    boxes: dict[int, tuple[float, float, float, float, float]] = field(default_factory=dict)
    keep: bool = False
    audited: set[int] = field(default_factory=set)

    def add(self, index: int, dets: Detections, k: int) -> None:
        """Box `k` of `dets` as this track's box in frame `index`."""
        x1, y1, x2, y2 = (float(v) for v in dets.boxes[k])
        self.boxes[index] = (x1, y1, x2, y2, float(dets.scores[k]))
        if k < len(dets.sources) and dets.sources[k] == AUDIT:
            self.audited.add(index)

    @property
    def first(self) -> int:
        return min(self.boxes)

    @property
    def last(self) -> int:
        """The latest frame with a box: the one added last (frames are added in order; a
        max over a long track's frames, on every frame, had made linking quadratic)."""
        return next(reversed(self.boxes))


def link(per_frame: list[Detections], options: TrackOptions,
         cuts: Sequence[int] = ()) -> list[Track]:
    """Greedy overlap linking of each frame's boxes to the tracks seen in recent frames; no
    track goes on across a scene cut (`cuts`: frames that start a scene)."""
    linker, starts = Linker(options), set(cuts)
    for index, dets in enumerate(per_frame):
        linker.add(index, dets, index in starts)
    return linker.tracks


class Linker:
    """link, a frame at a time: the tracks so far, and which may still go on."""

    def __init__(self, options: TrackOptions) -> None:
        self.options = options
        self.tracks: list[Track] = []
        self.active: list[Track] = []

    def add(self, index: int, dets: Detections, cut: bool = False) -> None:
        """Frame `index`'s boxes (frames come in order; `cut`: it starts a scene)."""
        self.active = [t for t in self.active
                       if index - t.last <= self.options.max_gap + 1 and not cut]
        unmatched = list(range(len(dets)))
        if self.active and len(dets):
            last_boxes = np.array([t.boxes[t.last][:4] for t in self.active], np.float32)
            ious = iou_matrix(last_boxes, dets.boxes)
            while True:
                flat = int(np.argmax(ious))
                t_i, d_i = flat // ious.shape[1], flat % ious.shape[1]
                if ious[t_i, d_i] < self.options.link_iou:
                    break
                self.active[t_i].add(index, dets, d_i)
                ious[t_i, :] = -1
                ious[:, d_i] = -1
                unmatched.remove(d_i)
        for d_i in unmatched:
            track = Track(id=len(self.tracks) + 1)
            track.add(index, dets, d_i)
            self.tracks.append(track)
            self.active.append(track)


def fill(track: Track, frame_count: int, options: TrackOptions,
         cuts: Sequence[int] = ()) -> dict[int, list[float]]:
    """Per-frame boxes for a track: gaps interpolated, smoothed, extended by lead and tail
    up to the nearest scene cuts (`cuts`, in order: frames that start a scene; the face is
    not in the scene before or after)."""
    frames = sorted(track.boxes)
    data = np.array([track.boxes[f][:4] for f in frames], np.float64)
    span = np.arange(frames[0], frames[-1] + 1)
    boxes = data if len(frames) == len(span) else np.stack(
        [np.interp(span, frames, data[:, k]) for k in range(4)], axis=1)
    if options.smooth and len(span) > 2:
        k = options.smooth
        padded = np.pad(boxes, ((k, k), (0, 0)), mode="edge")
        kernel = np.ones(2 * k + 1) / (2 * k + 1)
        smoothed = np.stack([np.convolve(padded[:, c], kernel, "valid") for c in range(4)], 1)
        # Smoothing must never shrink a mask below the detected box: take the union.
        boxes = np.concatenate(
            [np.minimum(boxes[:, :2], smoothed[:, :2]), np.maximum(boxes[:, 2:], smoothed[:, 2:])],
            axis=1,
        )
    out = dict(zip(span.tolist(), boxes.tolist(), strict=True))
    confident = (
        len(track.boxes) >= options.confident_hits
        or max(b[4] for b in track.boxes.values()) >= options.confident_score
    )
    lead = options.lead if confident else min(options.lead, options.weak_reach)
    tail = options.tail if confident else min(options.tail, options.weak_reach)
    at = bisect.bisect_right(cuts, frames[0])  # the cuts after the first frame start here
    scene_start = cuts[at - 1] if at else 0
    after = bisect.bisect_right(cuts, frames[-1])
    scene_end = min(cuts[after] if after < len(cuts) else frame_count, frame_count)
    leading = np.arange(1, min(lead, frames[0] - scene_start) + 1)
    led = _extrapolated(boxes[0], -_velocity(boxes[:MOTION_FRAMES]), leading,
                        options.grow_per_frame)
    out.update(zip((frames[0] - leading).tolist(), led, strict=True))
    trailing = np.arange(1, min(tail, scene_end - 1 - frames[-1]) + 1)
    trailed = _extrapolated(boxes[-1], _velocity(boxes[-MOTION_FRAMES:]), trailing,
                            options.grow_per_frame)
    out.update(zip((frames[-1] + trailing).tolist(), trailed, strict=True))
    return out


def _velocity(boxes: np.ndarray) -> np.ndarray:
    """Mean per-frame motion of the box centre (zero for a single box)."""
    if len(boxes) < 2:
        return np.zeros(2)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    return np.asarray(np.diff(centres, axis=0).mean(axis=0))


def _extrapolated(box: np.ndarray, velocity: np.ndarray, steps: np.ndarray,
                  grow_per_frame: float) -> list[list[float]]:
    """`box` moved `velocity` a frame and grown by `grow_per_frame` of its size a frame
    (half of it at most) on each side, `steps` frames away."""
    if not len(steps):
        return []
    shift = velocity[None, :] * steps[:, None]
    grow = np.minimum(grow_per_frame * steps, 0.5)
    gx, gy = (box[2] - box[0]) * grow, (box[3] - box[1]) * grow
    return np.stack([box[0] + shift[:, 0] - gx, box[1] + shift[:, 1] - gy,
                     box[2] + shift[:, 0] + gx, box[3] + shift[:, 1] + gy], 1).tolist()
