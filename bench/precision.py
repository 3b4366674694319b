"""Precision on cached detections: what margins and the second look buy and cost (issue 15).

Runs the balanced profile's three views over the dev photos once and caches their raw boxes,
then scores plans made from them, masks simulated from boxes (bench/recall.py measures the
real rendered outputs, audit included):

    python bench/precision.py cache /tmp/precision.pkl          # about 8 minutes
    python bench/precision.py compare /tmp/precision.pkl --every 4   # about 15 minutes

Rows: the plan as before issue 15 (one margin for all), the margin by confidence, the
second look at several sizes of "too big to be cheap", and two bounds no real look can
reach (weak boxes that overlap no annotated face dropped, as if an oracle had looked).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
import veil  # noqa: E402
from veil.detect.base import Detections, iou_matrix  # noqa: E402
from veil.detect.confirm import second_look  # noqa: E402
from veil.detect.ensemble import Ensemble, fuse  # noqa: E402
from veil.masks import SURE_SCORE, coverage  # noqa: E402
from veil.options import DEFAULT_MARGIN  # noqa: E402
from veil.plan import Region  # noqa: E402
from wider import DEV, Tally, load_dev, rows  # noqa: E402

Plan = Callable[[dict, np.ndarray, Detections], list[Region]]


def cache(path: Path) -> None:
    detector = veil.load_models("balanced").detector
    assert isinstance(detector, Ensemble)
    out = {}
    for i, rec in enumerate(load_dev()):
        pixels = np.asarray(Image.open(DEV / "images" / rec["file"]).convert("RGB"))
        out[rec["file"]] = [(d.boxes, d.scores) for d in (m.detect(pixels) for m in
                                                          detector.members)]
        if (i + 1) % 100 == 0:
            print(f"  {i + 1} photos", file=sys.stderr, flush=True)
    path.write_bytes(pickle.dumps(out))


def fused(views: list[tuple[np.ndarray, np.ndarray]]) -> Detections:
    """The balanced profile's plan from its views' boxes, as its Ensemble fuses them."""
    parts = [Detections(b, s, [f"view{i}"] * len(s)) for i, (b, s) in enumerate(views)]
    return fuse(Detections.concat(parts), 0.4)


def regions(dets: Detections, margin: float | None = None) -> list[Region]:
    """Regions for `dets`; `margin` pins every region's margin (the rule before issue 15)."""
    return [Region(*map(float, b), float(s), "centerface", margin=margin)
            for b, s in zip(dets.boxes, dets.scores, strict=True)]


def overlaps_a_face(rec: dict, dets: Detections) -> np.ndarray:
    faces = np.array([[x, y, x + w, y + h] for x, y, w, h in (f["box"] for f in rec["faces"])],
                     np.float32).reshape(-1, 4)
    if not len(dets) or not len(faces):
        return np.zeros(len(dets), bool)
    return iou_matrix(dets.boxes, faces).max(axis=1) > 0.2


def variants(looks: veil.Detector) -> dict[str, Plan]:
    def looked(share: float) -> Plan:
        def plan(rec: dict, pixels: np.ndarray, dets: Detections) -> list[Region]:
            return regions(second_look(pixels, dets, looks, SURE_SCORE, share)[0])
        return plan

    def oracle(big_share: float) -> Plan:
        def plan(rec: dict, pixels: np.ndarray, dets: Detections) -> list[Region]:
            areas = (dets.boxes[:, 2] - dets.boxes[:, 0]) * (dets.boxes[:, 3] - dets.boxes[:, 1])
            doubtful = (dets.scores < SURE_SCORE) & (areas > big_share * pixels[..., 0].size)
            keep = ~doubtful | overlaps_a_face(rec, dets)
            return regions(dets.select(np.nonzero(keep)[0]))
        return plan

    return {
        "one margin (before)": lambda rec, px, d: regions(d, DEFAULT_MARGIN),
        "margin by confidence": lambda rec, px, d: regions(d),
        "+ second look, >0.5% of the photo": looked(0.005),
        "+ second look, >1% (the default)": looked(0.01),
        "+ second look, >2%": looked(0.02),
        "+ second look at every weak box over 0.06% (24 px tall)": looked(0.0006),
        "bound: weak >1% on no face dropped": oracle(0.01),
        "bound: every weak box on no face dropped": oracle(0.0),
    }


def compare(path: Path, every: int) -> None:
    views = pickle.loads(path.read_bytes())
    looks = veil.load_models("balanced").second_look
    assert looks is not None
    plans = variants(looks)
    tallies = {name: Tally() for name in plans}
    for rec in load_dev(every=every):
        pixels = np.asarray(Image.open(DEV / "images" / rec["file"]).convert("RGB"))
        dets = fused(views[rec["file"]])
        for name, plan in plans.items():
            masked = coverage(rec["height"], rec["width"], plan(rec, pixels, dets),
                              DEFAULT_MARGIN, "ellipse")
            tallies[name].add(rec, masked)
    names = list(tallies)
    print("| | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for row in rows():
        print(f"| {row} | " + " | ".join(f"{100 * tallies[k].share(row):.2f}%" for k in names)
              + " |")
    print("| non-face masked | " + " | ".join(f"{100 * tallies[k].nonface_share:.2f}%"
                                             for k in names) + " |")
    for label in tallies[names[0]].background_rows():
        print(f"| {label} | " + " | ".join(tallies[k].background_rows()[label] for k in names)
              + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("cache", "compare"))
    ap.add_argument("path", type=Path)
    ap.add_argument("--every", type=int, default=1)
    args = ap.parse_args()
    if args.what == "cache":
        cache(args.path)
    else:
        compare(args.path, args.every)


if __name__ == "__main__":
    main()
