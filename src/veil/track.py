"""Linking per-frame face boxes into tracks, so masks hold through detector blinks.

Detections are linked frame to frame by overlap; gaps inside a track are filled by
interpolation; each track's mask starts a few frames before its first detection and ends a
few after its last (a face entering the frame, a head turning); boxes are smoothed so masks do
not jitter. Geometry only: nothing here looks at pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .detect.base import Detections, iou_matrix


@dataclass(frozen=True)
class TrackOptions:
    link_iou: float = 0.2  # overlap that continues a track from one frame to a later one
    max_gap: int = 15  # frames a track may go undetected and still be one track
    lead: int = 8  # frames the mask appears before the first detection
    tail: int = 8  # and stays after the last one
    smooth: int = 2  # half-width of the moving average over box corners
    grow_on_motion: float = 1.0  # widen lead/tail boxes by the track's speed over that time


@dataclass
class Track:
    """One face over time: frame index -> (x1, y1, x2, y2, score)."""

    id: int
    boxes: dict[int, tuple[float, float, float, float, float]] = field(default_factory=dict)
    keep: bool = False

    @property
    def first(self) -> int:
        return min(self.boxes)

    @property
    def last(self) -> int:
        return max(self.boxes)


def link(per_frame: list[Detections], options: TrackOptions) -> list[Track]:
    """Greedy overlap linking of each frame's boxes to the tracks seen in recent frames."""
    tracks: list[Track] = []
    active: list[Track] = []
    for index, dets in enumerate(per_frame):
        active = [t for t in active if index - t.last <= options.max_gap + 1]
        unmatched = list(range(len(dets)))
        if active and len(dets):
            last_boxes = np.array([t.boxes[t.last][:4] for t in active], np.float32)
            ious = iou_matrix(last_boxes, dets.boxes)
            while True:
                flat = int(np.argmax(ious))
                t_i, d_i = flat // ious.shape[1], flat % ious.shape[1]
                if ious[t_i, d_i] < options.link_iou:
                    break
                x1, y1, x2, y2 = (float(v) for v in dets.boxes[d_i])
                active[t_i].boxes[index] = (x1, y1, x2, y2, float(dets.scores[d_i]))
                ious[t_i, :] = -1
                ious[:, d_i] = -1
                unmatched.remove(d_i)
        for d_i in unmatched:
            track = Track(id=len(tracks) + 1)
            x1, y1, x2, y2 = (float(v) for v in dets.boxes[d_i])
            track.boxes[index] = (x1, y1, x2, y2, float(dets.scores[d_i]))
            tracks.append(track)
            active.append(track)
    return tracks


def fill(track: Track, frame_count: int, options: TrackOptions) -> dict[int, list[float]]:
    """Per-frame boxes for a track: gaps interpolated, smoothed, extended by lead and tail."""
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
    speed = _speed(boxes) * options.grow_on_motion
    for step in range(1, options.lead + 1):
        f = frames[0] - step
        if f >= 0:
            out[f] = _grow(boxes[0], speed * step)
    for step in range(1, options.tail + 1):
        f = frames[-1] + step
        if f < frame_count:
            out[f] = _grow(boxes[-1], speed * step)
    return out


def _speed(boxes: np.ndarray) -> float:
    if len(boxes) < 2:
        return 0.0
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    return float(np.abs(np.diff(centres, axis=0)).max(axis=1).mean())


def _grow(box: np.ndarray, by: float) -> list[float]:
    return [float(box[0] - by), float(box[1] - by), float(box[2] + by), float(box[3] + by)]
