"""Choose the video detection settings on cached detections: which views, how often, which
tracking options, scored on the annotated clip of bench/video.py by mask geometry (no
rendering or encoding, so a variant scores in seconds; bench/video.py then checks the
chosen one from decoded pixels).

    python bench/video_tune.py cache /tmp/vt              # clip, truth, raw boxes per view
    python bench/video_tune.py score /tmp/vt 'cf1280' 'cf960+cf512' 'cf1280/2' ...

A variant is views joined by '+', each optionally '@K' to run on every K-th frame only, and
optionally '/K' after them all to detect on every K-th frame only.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from veil.detect.base import Detections  # noqa: E402
from veil.detect.centerface import CenterFace  # noqa: E402
from veil.detect.ensemble import fuse  # noqa: E402
from veil.detect.multiscale import Resized  # noqa: E402
from veil.masks import DEFAULT_MARGIN, coverage  # noqa: E402
from veil.media.video import iter_frames  # noqa: E402
from veil.plan import Region  # noqa: E402
from veil.track import TrackOptions, fill, link  # noqa: E402
from video import FaceFrames, make_clip  # noqa: E402

VIEWS = {  # name: (long side of the view, band thresholds for <24, 24-64, >=64 px boxes)
    "cf1280": (1280, (0.05, 0.05, 0.08)),
    "cf1088": (1088, (0.05, 0.05, 0.08)),
    "cf960": (960, (0.05, 0.05, 0.08)),
    "cf768": (768, (0.05, 0.05, 0.08)),
    "cf640": (640, (0.05, 0.05, 0.08)),
    "cf512": (512, (0.08, 0.08, 0.15)),
}


def cache(folder: Path, size: tuple[int, int], seconds: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / "clip.mp4"
    truth = make_clip(clip, size, 30, seconds)
    views = {
        name: Resized(CenterFace(threshold=0.05), long_side=side)
        for name, (side, _) in VIEWS.items()
    }
    raw: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    spent: dict[str, float] = defaultdict(float)
    for _, frame in iter_frames(clip):
        for name, det in views.items():
            t = time.perf_counter()
            d = det.detect(frame)
            spent[name] += time.perf_counter() - t
            raw[name].append((d.boxes, d.scores))
    n = len(truth)
    print("ms/frame per view:", {k: round(v / n * 1000, 1) for k, v in spent.items()})
    with open(folder / "cache.pkl", "wb") as fh:
        pickle.dump(
            {
                "truth": truth,
                "raw": dict(raw),
                "size": size,
                "ms": {k: v / n for k, v in spent.items()},
            },
            fh,
        )


def detections(raw: dict, names: list[str], index: int) -> Detections:
    parts = []
    for name in names:
        boxes, scores = raw[name][index]
        bands = np.asarray(VIEWS[name][1], np.float32)
        heights = boxes[:, 3] - boxes[:, 1]
        keep = (
            scores
            >= bands[np.searchsorted(np.asarray((24, 64), np.float32), heights, side="right")]
        )
        parts.append(Detections.of(boxes[keep], scores[keep], name))
    dets = Detections.concat(parts)
    return fuse(dets, 0.4) if len(names) > 1 else dets


def score(folder: Path, variant: str, track: TrackOptions, margin: float = DEFAULT_MARGIN) -> dict:
    with open(folder / "cache.pkl", "rb") as fh:
        data = pickle.load(fh)
    truth, raw = data["truth"], data["raw"]
    width, height = data["size"]
    spec, _, every = variant.partition("/")
    k = int(every or 1)
    # Each view may run on every K-th frame only: 'cf640+cf1280@3'.
    views = [(v.partition("@")[0], int(v.partition("@")[2] or 1)) for v in spec.split("+")]
    n = len(truth)
    empty = Detections.of(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), "none")
    per_frame = []
    for i in range(n):
        names = [name for name, stride in views if i % (stride * k) == 0]
        per_frame.append(detections(raw, names, i) if names else empty)
    tracks = link(per_frame, track)
    filled = [fill(t, n, track) for t in tracks]
    tally = FaceFrames()
    for i in range(n):
        regions = [Region(*b[i]) for b in filled if i in b]
        tally.add(coverage(height, width, regions, margin, "ellipse"), truth[i])
    cost = sum(data["ms"][name] / stride for name, stride in views) / k * 1000
    return {**tally.result(), "ms": cost}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["cache", "score"])
    ap.add_argument("folder", type=Path)
    ap.add_argument("variants", nargs="*")
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--lead", type=int, default=TrackOptions.lead)
    ap.add_argument("--tail", type=int, default=TrackOptions.tail)
    ap.add_argument("--gap", type=int, default=TrackOptions.max_gap)
    ap.add_argument("--iou", type=float, default=TrackOptions.link_iou)
    ap.add_argument("--grow", type=float, default=TrackOptions.grow_per_frame)
    ap.add_argument("--margin", type=float, default=DEFAULT_MARGIN)
    args = ap.parse_args()
    if args.action == "cache":
        w, h = (int(v) for v in args.size.split("x"))
        cache(args.folder, (w, h), args.seconds)
        return
    track = TrackOptions(
        link_iou=args.iou,
        max_gap=args.gap,
        lead=args.lead,
        tail=args.tail,
        grow_per_frame=args.grow,
    )
    print("variant | ms/frame | 12-24 | 24-48 | 48-96 | >=96 | unmasked>=24 | flicker | non-face")
    for variant in args.variants:
        r = score(args.folder, variant, track, args.margin)
        cells = []
        for b in ("12-24", "24-48", "48-96", ">=96"):
            ok, total = r["prot"].get(b, [0, 0])
            cells.append(f"{100 * ok / total:.1f}% /{total}" if total else "-")
        print(
            f"{variant} | {r['ms']:.0f} | "
            + " | ".join(cells)
            + f" | {r['unmasked_24']} | {r['flicker']} | {100 * r['nonface']:.1f}%"
        )


if __name__ == "__main__":
    main()
