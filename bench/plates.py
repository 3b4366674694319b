"""Licence plates: how many `--cover faces,plates` (the photo default) protects on plates-dev,
what it costs in time and masked background beside a faces-only run (`--cover faces`), in
the same process, and what it adds on WIDER dev photos (people, few cars).

A plate is protected when at least 90% of its annotated box is masked. Masks are measured
from each run's plan, drawn onto a blank image exactly as veil draws them.

    python bench/plates.py                 # all 108 plates-dev photos, every 8th WIDER dev photo
    python bench/plates.py --wider-every 0 # plates-dev only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import veil  # noqa: E402
from veil.masks import draw_masks  # noqa: E402
from wider import DEV, load_dev  # noqa: E402

PLATES = Path(__file__).parents[1].parent / "shared" / "data" / "plates-dev"
PROTECTED = 0.9
RUNS = {"faces only (--cover faces)": ("faces",),
        "faces and plates (default)": ("faces", "plates")}


def masked(plan: veil.ImagePlan, options: veil.Options) -> np.ndarray:
    """Where the plan's masks fall, as veil draws them."""
    canvas = np.zeros((plan.height, plan.width, 3), np.uint8)
    white = veil.MaskOptions(style="solid", color=(255, 255, 255), shape=options.mask.shape,
                             margin=options.mask.margin)
    draw_masks(canvas, plan.to_cover, white)
    return canvas[..., 0] == 255


def run(data: bytes, cover: tuple[str, ...], models: veil.Models
        ) -> tuple[veil.ImagePlan, float]:
    options = veil.Options(detect=veil.DetectOptions(cover=cover))
    began = time.perf_counter()
    result = veil.anonymize_image(data, options, models=models)
    assert isinstance(result.plan, veil.ImagePlan)
    return result.plan, time.perf_counter() - began


def plates_dev(models: veil.Models) -> None:
    records = json.loads((PLATES / "annotations.json").read_text())["images"]
    print(f"\nplates-dev: {len(records)} photos, one annotated plate each\n")
    print("| | plates protected | masked outside the plate | seconds a photo |")
    print("|---|---|---|---|")
    for name, cover in RUNS.items():
        protected, background, seconds = 0, [], []
        for rec in records:
            data = (PLATES / "images" / rec["file"]).read_bytes()
            plan, took = run(data, cover, models)
            seconds.append(took)
            mask = masked(plan, veil.Options())
            plate = np.zeros_like(mask)
            for p in rec["plates"]:
                x, y, w, h = p["box"]
                protected += mask[y:y + h, x:x + w].mean() >= PROTECTED
                plate[y:y + h, x:x + w] = True
            background.append(mask[~plate].mean())
        print(f"| {name} | {100 * protected / len(records):.1f}% of {len(records)} | "
              f"{100 * np.mean(background):.2f}% | {np.mean(seconds):.3f} |")


def wider(models: veil.Models, every: int) -> None:
    records = load_dev(every=every)
    print(f"\nWIDER dev, every {every}th photo ({len(records)}): what covering plates adds "
          "where there are few cars\n")
    print("| | plate regions a photo | masked | seconds a photo | time vs faces only |")
    print("|---|---|---|---|---|")
    base = None
    for name, cover in RUNS.items():
        plates, area, seconds = 0, [], []
        for rec in records:
            plan, took = run((DEV / "images" / rec["file"]).read_bytes(), cover, models)
            seconds.append(took)
            plates += sum(r.category == "plate" for r in plan.regions)
            area.append(masked(plan, veil.Options()).mean())
        mean = float(np.mean(seconds))
        base = base or mean
        print(f"| {name} | {plates / len(records):.2f} | {100 * np.mean(area):.2f}% | "
              f"{mean:.3f} | {mean / base:.2f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wider-every", type=int, default=8, help="0: skip WIDER")
    args = ap.parse_args()
    if not PLATES.is_dir():
        sys.exit(f"needs {PLATES} (../shared/data/plates-dev)")
    models = veil.load_models(threads=1)
    veil.anonymize_image((PLATES / "images" / "eu" / "eu1.jpg").read_bytes(),
                         models=models)  # loads the text models before the clock runs
    print("default profile, one inference thread, the leak audit on; times are whole "
          "anonymize_image calls (decode to encode)")
    plates_dev(models)
    if args.wider_every:
        wider(models, args.wider_every)


if __name__ == "__main__":
    main()
