"""Scoring masks against WIDER FACE boxes: shared by the recall benchmark and the tuning script.

A face counts as protected when at least 90% of the inner 60% of its annotated box is masked.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# VEIL_WIDER_DEV: a copy elsewhere (bench/gpu.py carries a slice of it to the GPU machine).
DEV = Path(os.environ.get("VEIL_WIDER_DEV")
           or Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wider-dev")
HEIGHT_BUCKETS = [
    (0, 12, "<12"),
    (12, 24, "12-24"),
    (24, 48, "24-48"),
    (48, 96, "48-96"),
    (96, 10**9, ">=96"),
]
LEVELS = ("easy", "medium", "hard")
INNER = 0.6
PROTECTED_SHARE = 0.9


def load_dev(root: Path = DEV, limit: int | None = None, every: int = 1) -> list[dict]:
    """The dev set's image records (file, width, height, faces), optionally subsampled."""
    images = json.loads((root / "annotations.json").read_text())["images"]
    images = images[::every]
    return images[:limit] if limit else images


def bucket_of(height: float) -> str:
    for lo, hi, name in HEIGHT_BUCKETS:
        if lo <= height < hi:
            return name
    raise ValueError(height)


def face_protected(masked: np.ndarray, box: list[float]) -> bool:
    """Whether >= 90% of the inner 60% of the [x, y, w, h] box is masked."""
    x, y, w, h = box
    H, W = masked.shape
    ix1 = int(round(x + w * (1 - INNER) / 2))
    iy1 = int(round(y + h * (1 - INNER) / 2))
    ix2 = max(ix1 + 1, int(round(x + w * (1 + INNER) / 2)))
    iy2 = max(iy1 + 1, int(round(y + h * (1 + INNER) / 2)))
    ix1, ix2 = min(max(ix1, 0), W - 1), min(max(ix2, 1), W)
    iy1, iy2 = min(max(iy1, 0), H - 1), min(max(iy2, 1), H)
    inner = masked[iy1:iy2, ix1:ix2]
    return bool(inner.size and inner.mean() >= PROTECTED_SHARE)


@dataclass
class Tally:
    """Protected counts by height bucket and WIDER level, plus the non-face masked share."""

    protected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    total: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    nonface_masked: int = 0
    nonface_total: int = 0
    seconds: list[float] = field(default_factory=list)
    per_image: list[float] = field(default_factory=list)  # each image's non-face share
    # images more than half masked, and of them those whose faces cover under a third
    half_masked: int = 0
    half_masked_few_faces: int = 0

    def add(self, record: dict, masked: np.ndarray, ignore: np.ndarray | None = None) -> None:
        """Score one image's mask; `ignore` marks pixels left out of the non-face share."""
        face_px = np.zeros_like(masked)
        for face in record["faces"]:
            x, y, w, h = face["box"]
            face_px[int(y) : int(np.ceil(y + h)), int(x) : int(np.ceil(x + w))] = True
            if face.get("invalid"):
                continue
            ok = face_protected(masked, face["box"])
            keys = [bucket_of(h)] + [lvl for lvl in LEVELS if face.get(lvl)]
            for key in keys:
                self.total[key] += 1
                self.protected[key] += ok
        nonface = ~face_px if ignore is None else ~face_px & ~ignore
        self.nonface_masked += int((masked & nonface).sum())
        self.nonface_total += int(nonface.sum())
        self.per_image.append(float((masked & nonface).sum() / max(1, nonface.sum())))
        shown = masked if ignore is None else masked[~ignore]  # black before: not a mask
        if shown.size and shown.mean() > 0.5:
            self.half_masked += 1
            self.half_masked_few_faces += bool(face_px.mean() <= 1 / 3)

    def background_rows(self) -> dict[str, str]:
        """The masked background per image (median, 90th percentile) and the images more
        than half masked, as table cells."""
        shares = np.asarray(self.per_image or [np.nan])
        return {
            "non-face masked per image, median": f"{100 * np.median(shares):.2f}%",
            "non-face masked per image, 90th percentile": f"{100 * np.percentile(shares, 90):.2f}%",
            "images more than half masked (faces under a third of it)":
                f"{self.half_masked} ({self.half_masked_few_faces})",
        }

    def share(self, key: str) -> float:
        return self.protected[key] / self.total[key] if self.total[key] else float("nan")

    @property
    def nonface_share(self) -> float:
        return self.nonface_masked / max(1, self.nonface_total)


def rows() -> Iterator[str]:
    yield from [b[2] for b in HEIGHT_BUCKETS]
    yield from LEVELS
