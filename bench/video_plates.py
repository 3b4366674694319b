"""Licence plates in video: a clip filmed across car photos of plates-dev (the camera pans,
zooms and shakes as in bench/video.py), veil with `--cover faces,plates` beside veil with
faces only and a plain re-encode, in the same run, scored from the decoded outputs.

A plate-frame is protected when at least 90% of the plate's box is masked (as for photos,
bench/plates.py); flicker: a plate-frame left unmasked while that plate is masked in most of
its other frames. Non-plate masked: the share of the other pixels masked (pixels already
near black in the source left out).

    python bench/video_plates.py                 # 20 s of 1080p30, a new car every 1.25 s
    python bench/video_plates.py --seed 1 --text-every 8   # plates looked for less often
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from plates import PLATES, PROTECTED  # noqa: E402
from veil.media.video import encode_video  # noqa: E402
from veil.options import DetectOptions, EncodeOptions, Options  # noqa: E402
from veil.pipeline import anonymize_video, load_video_models  # noqa: E402
from veil.pipeline.schedule import ScheduleOptions  # noqa: E402
from video import DARK, Scene, make_clip  # noqa: E402

RUNS = {"veil, faces only (--cover faces)": ("faces",),
        "veil, faces and plates (--cover faces,plates)": ("faces", "plates")}


def plate_scenes(count: int, seed: int) -> list[Scene]:
    """`count` plates-dev photos, drawn at random, each with its plate's box."""
    records = json.loads((PLATES / "annotations.json").read_text())["images"]
    picks = np.random.default_rng(seed + 1).choice(len(records), size=count, replace=False)
    return [(PLATES / "images" / records[int(i)]["file"],
             [p["box"] for p in records[int(i)]["plates"]]) for i in picks]


def score(src: Path, out: Path, truth: list) -> dict:
    """Protected plate-frames, flicker and the non-plate share, from the decoded frames."""
    per_plate: dict[str, list[bool]] = defaultdict(list)
    masked_px = other_px = 0
    with av.open(str(src)) as a, av.open(str(out)) as b:
        for i, (fa, fb) in enumerate(zip(a.decode(video=0), b.decode(video=0), strict=True)):
            orig, res = fa.to_ndarray(format="rgb24"), fb.to_ndarray(format="rgb24")
            masked = res.max(axis=2) < DARK
            other = orig.max(axis=2) >= DARK
            for pid, (x, y, w, h) in truth[i]:
                box = (slice(int(y), int(np.ceil(y + h))), slice(int(x), int(np.ceil(x + w))))
                per_plate[pid].append(bool(masked[box].mean() >= PROTECTED))
                other[box] = False
            masked_px += int((masked & other).sum())
            other_px += int(other.sum())
    frames = [ok for oks in per_plate.values() for ok in oks]
    flicker = sum(not ok and (len(oks) > 1 and (sum(oks) / (len(oks) - 1)) > 0.5)
                  for oks in per_plate.values() for ok in oks)
    return {"protected": sum(frames), "plate_frames": len(frames),
            "unmasked": len(frames) - sum(frames), "flicker": flicker,
            "plates": len(per_plate),
            "plates_always": sum(all(oks) for oks in per_plate.values()),
            "other": masked_px / max(1, other_px)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--per-photo", type=float, default=1.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--text-every", type=int, default=ScheduleOptions().text_every,
                    help="look for plates on every this many frames (a divisor of 8)")
    args = ap.parse_args()
    models = dataclasses.replace(load_video_models(),
                                 schedule=ScheduleOptions(text_every=args.text_every))
    size = tuple(int(v) for v in args.size.split("x"))
    scenes = plate_scenes(int(np.ceil(args.seconds / args.per_photo)), args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = folder / "clip.mp4"
        truth = make_clip(clip, size, args.fps, args.seconds, args.per_photo,  # type: ignore[arg-type]
                          args.seed, scenes=scenes)
        n = len(truth)
        print(f"clip: {args.size} {args.fps} fps, {n} frames, {len(scenes)} cars, "
              f"{sum(len(f) for f in truth)} plate-frames wholly in view; "
              f"{os.cpu_count()} cores; plates looked for on every {args.text_every}th frame\n")
        t = time.perf_counter()
        encode_video(clip, folder / "plain.mp4", lambda i: [], EncodeOptions())
        plain = time.perf_counter() - t
        rows = {}
        for name, cover in RUNS.items():
            dst = folder / f"{len(rows)}.mp4"
            t = time.perf_counter()
            anonymize_video(clip, dst, Options(detect=DetectOptions(cover=cover)), models=models)
            rows[name] = (time.perf_counter() - t, score(clip, dst, truth))
    faces_only = next(iter(rows.values()))[0]
    print("| | plain re-encode | " + " | ".join(rows) + " |")
    print("|---|---|" + "---|" * len(rows))
    lines = [
        ("plate-frames protected", lambda r: f"{100 * r['protected'] / r['plate_frames']:.2f}% "
                                             f"of {r['plate_frames']}"),
        ("unmasked plate-frames", lambda r: str(r["unmasked"])),
        ("of which flicker", lambda r: str(r["flicker"])),
        ("plates masked in every frame", lambda r: f"{r['plates_always']} of {r['plates']}"),
        ("non-plate masked", lambda r: f"{100 * r['other']:.2f}%"),
    ]
    for label, cell in lines:
        print(f"| {label} | | " + " | ".join(cell(r) for _, r in rows.values()) + " |")
    print(f"| frames per second | {n / plain:.1f} | "
          + " | ".join(f"{n / s:.1f}" for s, _ in rows.values()) + " |")
    print("| time vs plain re-encode | 1.00x | "
          + " | ".join(f"{s / plain:.2f}x" for s, _ in rows.values()) + " |")
    print("| time vs faces only | | "
          + " | ".join(f"{s / faces_only:.2f}x" for s, _ in rows.values()) + " |")


if __name__ == "__main__":
    main()
