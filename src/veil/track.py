"""Linking per-frame face boxes into tracks, so masks hold through detector blinks.

Detections are linked frame to frame by overlap; gaps inside a track are filled by
interpolation; each track's mask starts a few frames before its first detection and ends a
few after its last (a face entering the frame, a head turning); boxes are smoothed so masks do
not jitter. Geometry only: nothing here looks at pixels.
"""

from __future__ import annotations

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
        return max(self.boxes)


def link(per_frame: list[Detections], options: TrackOptions,
         cuts: Sequence[int] = ()) -> list[Track]:
    """Greedy overlap linking of each frame's boxes to the tracks seen in recent frames; no
    track goes on across a scene cut (`cuts`: frames that start a scene)."""
    tracks: list[Track] = []
    active: list[Track] = []
    starts = set(cuts)
    for index, dets in enumerate(per_frame):
        active = [t for t in active if index - t.last <= options.max_gap + 1
                  and index not in starts]
        unmatched = list(range(len(dets)))
        if active and len(dets):
            last_boxes = np.array([t.boxes[t.last][:4] for t in active], np.float32)
            ious = iou_matrix(last_boxes, dets.boxes)
            while True:
                flat = int(np.argmax(ious))
                t_i, d_i = flat // ious.shape[1], flat % ious.shape[1]
                if ious[t_i, d_i] < options.link_iou:
                    break
                active[t_i].add(index, dets, d_i)
                ious[t_i, :] = -1
                ious[:, d_i] = -1
                unmatched.remove(d_i)
        for d_i in unmatched:
            track = Track(id=len(tracks) + 1)
            track.add(index, dets, d_i)
            tracks.append(track)
            active.append(track)
    return tracks


def fill(track: Track, frame_count: int, options: TrackOptions,
         cuts: Sequence[int] = ()) -> dict[int, list[float]]:
    """Per-frame boxes for a track: gaps interpolated, smoothed, extended by lead and tail
    up to the nearest scene cuts (`cuts`: frames that start a scene; the face is not in the
    scene before or after)."""
    frames = sorted(track.boxes)
    data = np.array([track.boxes[f][:4] for f in frames], np.float64)
    span = np.arange(frames[0], frames[-1] + 1)
    boxes = np.stack([np.interp(span, frames, data[:, k]) for k in range(4)], axis=1)
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
    out = {int(f): list(map(float, b)) for f, b in zip(span, boxes, strict=True)}
    start_v, end_v = _velocity(boxes[:MOTION_FRAMES]), _velocity(boxes[-MOTION_FRAMES:])
    confident = (
        len(track.boxes) >= options.confident_hits
        or max(b[4] for b in track.boxes.values()) >= options.confident_score
    )
    lead = options.lead if confident else min(options.lead, options.weak_reach)
    tail = options.tail if confident else min(options.tail, options.weak_reach)
    scene_start = max((c for c in cuts if c <= frames[0]), default=0)
    scene_end = min((c for c in cuts if c > frames[-1]), default=frame_count)
    for step in range(1, lead + 1):
        f = frames[0] - step
        if f >= scene_start:
            out[f] = _extrapolate(boxes[0], -start_v * step, options.grow_per_frame * step)
    for step in range(1, tail + 1):
        f = frames[-1] + step
        if f < min(frame_count, scene_end):
            out[f] = _extrapolate(boxes[-1], end_v * step, options.grow_per_frame * step)
    return out


def _velocity(boxes: np.ndarray) -> np.ndarray:
    """Mean per-frame motion of the box centre (zero for a single box)."""
    if len(boxes) < 2:
        return np.zeros(2)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    return np.asarray(np.diff(centres, axis=0).mean(axis=0))


def _extrapolate(box: np.ndarray, shift: np.ndarray, grow: float) -> list[float]:
    w, h = box[2] - box[0], box[3] - box[1]
    gx, gy = w * min(grow, 0.5), h * min(grow, 0.5)
    return [
        float(box[0] + shift[0] - gx),
        float(box[1] + shift[1] - gy),
        float(box[2] + shift[0] + gx),
        float(box[3] + shift[1] + gy),
    ]
