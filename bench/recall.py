"""Recall benchmark: veil against deface as shipped, measured from the rendered outputs.

Both tools render a solid black fill into a lossless PNG; a pixel counts as masked when it is
pure black in the output. A face is protected when >= 90% of the inner 60% of its annotated
box is masked. Pixels already pure black in the input are left out of the non-face share
and of the count of photos more than half masked (they would count as "masked" for both
tools alike). Photos alternate between the two tools so machine noise hits both. veil runs
with `--cover faces`: what covering licence plates (the photo default) adds, in time and
masked area, is bench/plates.py's.

    python bench/recall.py                    # every profile, with and without the audit
    python bench/recall.py --every 4          # a quarter of the photos, for a quick look
    python bench/recall.py --variants balanced,fast+noaudit
    python bench/recall.py --variants balanced,balanced:openvino-bf16   # bfloat16's cost
    python bench/recall.py --every 8 --variants balanced,balanced@0.3,balanced@0.5,balanced@0.7
                                              # what --min-score costs (@: the minimum score)
    python bench/recall.py --every 16 --rotate 90 --variants thorough,thorough+norot
                                              # faces turned sideways: what rotated views buy
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
import veil  # noqa: E402
from veil.options import DEFAULT_MARGIN  # noqa: E402
from wider import DEV, Tally, load_dev, rows  # noqa: E402


def masked_pixels(path: Path) -> np.ndarray:
    out = np.asarray(Image.open(path).convert("RGB"))
    return (out == 0).all(axis=2)


def run_deface(src: Path, dst: Path, centerface: object) -> None:
    from deface.deface import image_detect

    # deface's CLI defaults for photos, with --replacewith solid: threshold 0.2,
    # mask scale 1.3, ellipse (deface draws solid masks as boxes regardless).
    image_detect(
        ipath=str(src),
        opath=str(dst),
        centerface=centerface,
        threshold=0.2,
        replacewith="solid",
        mask_scale=1.3,
        ellipse=True,
        draw_scores=False,
        enable_preview=False,
        keep_metadata=False,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=1, help="use every Nth photo")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--margin", type=float, default=None, help="override veil's default margin")
    ap.add_argument(
        "--variants",
        default="fast,balanced+noaudit,balanced,thorough+noaudit,thorough",
        help="veil profiles to run, comma-separated; +noaudit switches the audit off, "
        "@0.5 sets --min-score",
    )
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--rotate", type=int, default=0, choices=(0, 90, 270),
                    help="turn every photo (anticlockwise) first: faces lie on their side")
    args = ap.parse_args()

    records = load_dev(every=args.every, limit=args.limit)
    variants = args.variants.split(",")
    models = {v: load_variant(v) for v in variants}  # every model loaded before timing
    margin = args.margin or DEFAULT_MARGIN
    centerface = None
    if not args.no_baseline:
        from deface.centerface import CenterFace

        with contextlib.redirect_stdout(io.StringIO()):
            centerface = CenterFace(in_shape=None, backend="auto")
    tallies = {f"veil {v}": Tally() for v in variants}
    tallies["deface"] = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        turns = args.rotate // 90
        for i, rec in enumerate(records):
            src = DEV / "images" / rec["file"]
            ignore = (np.asarray(Image.open(src).convert("RGB")) == 0).all(axis=2)
            if turns:  # a sideways copy; masks are turned back before scoring
                turned = Path(tmp) / "turned.png"
                Image.open(src).convert("RGB").rotate(args.rotate, expand=True).save(turned)
                src = turned
            for v in variants:
                profile, _, flag = v.partition("+")
                profile, _, min_score = profile.partition("@")
                profile = profile.partition(":")[0]
                dst = Path(tmp) / f"veil{i}.png"
                options = veil.Options.from_flat(
                    {"profile": profile, "audit": flag != "noaudit", "margin": margin,
                     "format": "png", "min_score": min_score or "0",
                     "cover": "faces"}  # faces alone: plates are bench/plates.py's
                )
                t = time.perf_counter()
                veil.anonymize_file(src, dst, options, models=models[v])
                tallies[f"veil {v}"].seconds.append(time.perf_counter() - t)
                tallies[f"veil {v}"].add(rec, np.rot90(masked_pixels(dst), -turns), ignore)
                dst.unlink()
            if centerface is not None:
                dst = Path(tmp) / f"deface{i}.png"
                t = time.perf_counter()
                run_deface(src, dst, centerface)
                tallies["deface"].seconds.append(time.perf_counter() - t)
                tallies["deface"].add(rec, np.rot90(masked_pixels(dst), -turns), ignore)
                dst.unlink()
            if (i + 1) % 100 == 0:
                print(f"  {i + 1}/{len(records)} photos", file=sys.stderr, flush=True)
    print_table(tallies, len(records))


def load_variant(variant: str) -> veil.Models:
    """A variant's models: `profile[:backend][@min-score][+noaudit|+norot]`; +norot leaves
    out the profile's rotated views (to measure what they buy); :openvino runs them on
    OpenVINO, :openvino-bf16 on OpenVINO in bfloat16 where the CPU has it."""
    from veil.profiles import get_profile

    name, _, backend = variant.split("+")[0].split("@")[0].partition(":")
    profile = get_profile(name)
    if backend == "openvino-bf16":  # bfloat16, off in veil (detect/runtime.py says why)
        import veil.detect.runtime as runtime
        from veil.profiles import build_profile

        runtime.OPENVINO_PRECISION = "bf16"
        try:  # built here, not through load_models' cache (keyed by backend, not precision)
            detector, auditor, second_look = build_profile(profile, 0, "openvino", "cpu")
        finally:
            runtime.OPENVINO_PRECISION = "f32"
        return veil.Models(detector, auditor, second_look, "openvino bfloat16", 0,
                           "openvino", "cpu")
    if variant.endswith("+norot"):
        upright = tuple(p for p in profile.passes if not p.quarter_turns)
        profile = dataclasses.replace(profile, name=f"{name}-norot", passes=upright)
    return veil.load_models(profile, backend=backend or "auto")


def print_table(tallies: dict[str, Tally], n: int) -> None:
    """A Markdown table: one column per tool, ratios to deface in the last row."""
    names = [k for k, t in tallies.items() if t.seconds]
    total = tallies[names[0]].total
    base = tallies.get("deface")
    print(f"\nWIDER dev: {n} photos; protected share of faces (>=90% of inner 60% masked)\n")
    print("| | faces | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 2) + "|")
    for row in rows():
        cells = " | ".join(f"{100 * tallies[k].share(row):.2f}%" for k in names)
        print(f"| {row} | {total[row]} | {cells} |")
    cells = " | ".join(f"{100 * tallies[k].nonface_share:.2f}%" for k in names)
    print(f"| non-face masked | | {cells} |")
    for label in tallies[names[0]].background_rows():
        cells = " | ".join(tallies[k].background_rows()[label] for k in names)
        print(f"| {label} | | {cells} |")
    cells = " | ".join(f"{np.median(tallies[k].seconds):.3f}" for k in names)
    print(f"| s/photo (median) | | {cells} |")
    # A folder's rate follows the mean: a crowd's photo can cost several median ones.
    cells = " | ".join(f"{np.mean(tallies[k].seconds):.3f}" for k in names)
    print(f"| s/photo (mean) | | {cells} |")
    if base is not None and base.seconds:
        cells = " | ".join(
            f"{tallies[k].nonface_share / base.nonface_share:.2f}x / "
            f"{np.median(tallies[k].seconds) / np.median(base.seconds):.2f}x / "
            f"{np.mean(tallies[k].seconds) / np.mean(base.seconds):.2f}x"
            for k in names
        )
        print(f"| vs deface: non-face / time, median / mean | | {cells} |")


if __name__ == "__main__":
    main()
