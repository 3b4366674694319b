"""Scene cuts: where a video's picture changes all at once (an edit, a jump), so that a mask's
lead and tail (track.fill) stop there rather than cover the other scene.

Each frame is summed up as a coarse colour histogram; a cut is where it jumps from the frame
before, far more than it has been changing. A camera's pan, zoom or shake moves the picture
but keeps its colours: on the benchmark clips the histograms of consecutive frames differed
by at most 0.05 (Bhattacharyya distance) within a scene and by 0.26-0.61 across a cut. A
missed cut costs only background masked; a false one could end a mask's tail early, so both
tests must hold.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

BINS = 4  # per colour channel
SAMPLES = 128  # the histogram counts a grid of about this many pixels a side
CUT_DISTANCE = 0.2  # at least this far from the frame before ...
CUT_SPIKE = 3.0  # ... and this many times the median change of the scene's frames before
RECENT = 8  # at most this many of them


def colour_signature(frame: np.ndarray) -> np.ndarray:
    """A frame's colours as BINS**3 shares (float32, summing to 1)."""
    step = max(1, max(frame.shape[:2]) // SAMPLES)  # a grid of pixels, not a resize: 0.1 ms
    grid = np.ascontiguousarray(frame[::step, ::step, :3])
    counts = cv2.calcHist([grid], [0, 1, 2], None, [BINS] * 3, [0, 256] * 3).ravel()
    return np.asarray(counts / max(1.0, float(counts.sum())), np.float32)


def scene_cuts(signatures: Sequence[np.ndarray]) -> list[int]:
    """The frames that start a new scene (never frame 0), from each frame's signature."""
    cuts = SceneCuts()
    for signature in signatures:
        cuts.add(signature)
    return cuts.cuts


class SceneCuts:
    """scene_cuts, a frame at a time (a cut depends only on the frames before it)."""

    def __init__(self) -> None:
        self.cuts: list[int] = []
        self.frames = 0
        self._last: np.ndarray | None = None
        self._scene: list[float] = []  # the changes within the scene so far

    def add(self, signature: np.ndarray) -> bool:
        """The next frame's signature; True when that frame starts a new scene."""
        last, self._last = self._last, signature
        self.frames += 1
        if last is None:
            return False
        change = float(cv2.compareHist(last, signature, cv2.HISTCMP_BHATTACHARYYA))
        usual = float(np.median(self._scene[-RECENT:])) if self._scene else 0.0
        if change >= CUT_DISTANCE and change >= CUT_SPIKE * usual:
            self.cuts.append(self.frames - 1)
            self._scene = []
            return True
        self._scene.append(change)
        return False
