"""Video benchmark: annotated clips made from WIDER dev photos, veil against a plain re-encode
and deface as shipped, measured from the decoded outputs.

A camera window pans, zooms and shakes across each photo (a few seconds per photo) and the
face boxes move with it. A pixel counts as masked when it is near black in the output (the
clip is H.264, so a black fill decodes to values near 0); pixels already near black in the
source frame are left out of the non-face share and of the frames more than half masked. A
face-frame is protected when >= 90% of the inner 60% of its box is masked. Flicker: a
face-frame of a face 24 px or taller left unmasked while that face is masked in most of its
other frames.

    python bench/video.py                   # 10 s of 1080p30
    python bench/video.py --size 3840x2160  # 4K
    python bench/video.py --seconds 5 --no-deface --rotate 90   # every face lying sideways
    python bench/video.py --seed 1          # another clip: other photos, other camera moves
    python bench/video.py --veil-only --seed 0,1,2   # three clips, one table each

It also prints what each stage costs in CPU time (core-milliseconds a frame, all threads),
so the frame rate on more cores can be predicted: cores x 1000 / the total.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from veil.media.video import (
    encode_video,  # noqa: E402
    iter_frames,  # noqa: E402
)
from veil.options import DEFAULT_MIN_FACE, EncodeOptions, Options  # noqa: E402
from veil.pipeline import anonymize_video, load_video_models  # noqa: E402
from veil.pipeline.cuts import scene_cuts  # noqa: E402
from veil.pipeline.schedule import Looks, ScheduleOptions  # noqa: E402
from veil.pipeline.video import plan_tracks, scheduled_detections  # noqa: E402
from wider import DEV, HEIGHT_BUCKETS, bucket_of, face_protected, load_dev  # noqa: E402

DARK = 24  # max channel value still counted as the black fill after H.264


# A photo to film and the boxes ([x, y, w, h]) of what is to be covered in it.
Scene = tuple[Path, list[list[float]]]


def wider_scenes(count: int, rng: np.random.Generator) -> list[Scene]:
    """`count` WIDER dev photos with 3 to 40 faces of 16 px and up, and their valid faces."""
    records = [
        r for r in load_dev() if 3 <= len([f for f in r["faces"] if f["box"][3] >= 16]) <= 40
    ]
    picks = rng.choice(len(records), size=count, replace=False)
    return [(DEV / "images" / records[int(i)]["file"],
             [f["box"] for f in records[int(i)]["faces"] if not f.get("invalid")])
            for i in picks]


def make_clip(
    path: Path,
    size: tuple[int, int],
    fps: int,
    seconds: float,
    per_photo: float = 2.5,
    seed: int = 0,
    turned: bool = False,
    scenes: list[Scene] | None = None,
) -> list[list[tuple[str, list[float]]]]:
    """Write the clip; return, per frame, (id, [x, y, w, h]) of every box wholly in view.
    `turned`: every frame turned 90 degrees anticlockwise (the clip is height x width).
    `scenes`: the photos filmed, one after another (default: WIDER dev photos of faces)."""
    rng = np.random.default_rng(seed)
    if scenes is None:
        scenes = wider_scenes(int(np.ceil(seconds / per_photo)), rng)
    width, height = size
    frames_per_photo = int(per_photo * fps)
    truth: list[list[tuple[str, list[float]]]] = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = (height, width) if turned else (width, height)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for k, (photo, boxes) in enumerate(scenes):
            img = np.asarray(Image.open(photo).convert("RGB"))
            ih, iw = img.shape[:2]
            # window of the output's aspect ratio covering 60-80% of the photo's width
            z0, z1 = rng.uniform(0.6, 0.8), rng.uniform(0.6, 0.8)
            for t in range(frames_per_photo):
                if len(truth) >= int(seconds * fps):
                    break
                a = t / max(1, frames_per_photo - 1)
                ww = iw * (z0 + (z1 - z0) * a)
                wh = ww * height / width
                if wh > ih:
                    wh, ww = ih, ih * width / height
                x0 = (iw - ww) * a + rng.normal(0, 2)  # pan left to right, with shake
                y0 = (ih - wh) * 0.5 + rng.normal(0, 2)
                s = width / ww
                m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], np.float32)
                frame = cv2.warpAffine(
                    img, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
                )
                faces = []
                for j, (x, y, w, h) in enumerate(boxes):
                    bx, by, bw, bh = (x - x0) * s, (y - y0) * s, w * s, h * s
                    if bx >= 0 and by >= 0 and bx + bw <= width and by + bh <= height:
                        box = [by, width - bx - bw, bh, bw] if turned else [bx, by, bw, bh]
                        faces.append((f"{k}:{j}", box))
                truth.append(faces)
                if turned:
                    frame = np.ascontiguousarray(np.rot90(frame, 1))
                vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
                for packet in stream.encode(vf):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return truth


class FaceFrames:
    """Scores masks frame by frame: protected face-frames by height, flicker, non-face share."""

    def __init__(self) -> None:
        self.prot: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.per_face: dict[str, list[tuple[bool, float]]] = defaultdict(list)
        self.nonface = [0, 0]
        self.per_frame: list[float] = []  # each frame's non-face share
        self.half_masked = 0  # frames more than half masked

    def add(self, masked: np.ndarray, faces: list, ignore: np.ndarray | None = None) -> None:
        """One frame: `masked` pixels, its (face id, [x, y, w, h]) faces, pixels to leave out
        of the non-face share (already black in the source)."""
        face_px = np.zeros_like(masked)
        for fid, box in faces:
            x, y, w, h = box
            face_px[int(y) : int(np.ceil(y + h)), int(x) : int(np.ceil(x + w))] = True
            ok = face_protected(masked, box)
            self.prot[bucket_of(h)][0] += ok
            self.prot[bucket_of(h)][1] += 1
            self.per_face[fid].append((ok, h))
        keep = ~face_px if ignore is None else ~face_px & ~ignore
        self.nonface[0] += int((masked & keep).sum())
        self.nonface[1] += int(keep.sum())
        self.per_frame.append(float((masked & keep).sum() / max(1, keep.sum())))
        shown = masked if ignore is None else masked[~ignore]  # black before: not a mask
        self.half_masked += bool(shown.size and shown.mean() > 0.5)

    def result(self) -> dict:
        unmasked_24 = flicker = 0
        for frames in self.per_face.values():
            oks = [ok for ok, _ in frames]
            for ok, h in frames:
                if h >= 24 and not ok:
                    unmasked_24 += 1
                    others = len(oks) - 1
                    if others and sum(oks) / others > 0.5:
                        flicker += 1
        return {
            "prot": dict(self.prot),
            "unmasked_24": unmasked_24,
            "flicker": flicker,
            "nonface": self.nonface[0] / max(1, self.nonface[1]),
            "nonface_median": float(np.median(self.per_frame or [np.nan])),
            "nonface_p90": float(np.percentile(self.per_frame or [np.nan], 90)),
            "half_masked": self.half_masked,
        }


def score(src: Path, out: Path, truth: list) -> dict:
    """Protected face-frames by height, flicker, non-face share, from decoded frames."""
    tally = FaceFrames()
    with av.open(str(src)) as a, av.open(str(out)) as b:
        for i, (fa, fb) in enumerate(zip(a.decode(video=0), b.decode(video=0), strict=True)):
            orig = fa.to_ndarray(format="rgb24")
            # deface's writer pads frames to a multiple of 16 rows; compare the picture area
            res = fb.to_ndarray(format="rgb24")[: orig.shape[0], : orig.shape[1]]
            tally.add(res.max(axis=2) < DARK, truth[i], orig.max(axis=2) < DARK)
    return tally.result()


def run_deface(src: Path, dst: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "deface.deface",
                str(src),
                "-o",
                str(dst),
                "--thresh",
                "0.2",
                "--replacewith",
                "solid",
                "--mask-scale",
                "1.3",
                "--ffmpeg-config",
                '{"codec": "libx264", "quality": null, '
                '"ffmpeg_params": ["-crf", "20", "-preset", "veryfast"]}',
            ],
            check=True,
            capture_output=True,
        )


@dataclass
class VeilRun:
    seconds: float
    result: dict
    costs: dict[str, float]  # core-ms a frame by stage


def run_veil(clip: Path, dst: Path, truth: list, schedule: ScheduleOptions, workers: int,
             min_face: float, encode: EncodeOptions) -> VeilRun:
    """veil's two passes, timed, with the CPU time of each stage."""
    n = len(truth)
    t = time.perf_counter()
    models = load_video_models(min_face)
    looks = Looks(models.detector, schedule, models.auditor)
    cpu = time.process_time()
    per_frame, (width, height) = scheduled_detections(clip, looks, workers)
    cuts = scene_cuts(looks.colours())
    plan = plan_tracks(per_frame, width, height, "centerface", cuts=cuts)
    detect_cpu = time.process_time() - cpu
    cpu = time.process_time()
    anonymize_video(clip, dst, Options(encode=encode), plan=plan, threads=workers)
    render_cpu = time.process_time() - cpu
    seconds = time.perf_counter() - t
    costs = {what: 1000 * spent / n for what, spent in looks.seconds.items()}
    costs["detect pass: decoding, tracking, the rest"] = (
        1000 * detect_cpu / n - sum(costs.values()))
    costs["render and encode pass"] = 1000 * render_cpu / n
    print(f"leak audit ({workers} workers, keyframes every {looks.every}): "
          f"{looks.audit_frames} whole frames and {looks.counts['audit crops']} close-ups "
          f"looked at, {len(looks.found)} finds {looks.found[:5]}")
    return VeilRun(seconds, score(clip, dst, truth), costs)


def decode_cost(clip: Path, n: int) -> float:
    cpu = time.process_time()
    for _ in iter_frames(clip):
        pass
    return 1000 * (time.process_time() - cpu) / n


def print_costs(runs: dict[str, VeilRun], decode: float, plain: float) -> None:
    print("\nCPU time by stage, core-ms a frame (all threads; predicted frames per second on C "
          "cores: C x 1000 / total)\n")
    names = list(runs)
    last = ("detect pass: decoding, tracking, the rest", "render and encode pass")
    looks = dict.fromkeys(s for r in runs.values() for s in r.costs if s not in last)
    stages = [*looks, *last]
    print("| stage | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for stage in stages:
        print(f"| {stage} | " + " | ".join(f"{runs[k].costs.get(stage, 0):.1f}" for k in names)
              + " |")
    totals = {k: sum(r.costs.values()) for k, r in runs.items()}
    print("| total | " + " | ".join(f"{totals[k]:.1f}" for k in names) + " |")
    for cores in (2, 4, 8, 16):
        print(f"| predicted fps, {cores} cores | "
              + " | ".join(f"{cores * 1000 / totals[k]:.1f}" for k in names) + " |")
    print(f"\n(decode and RGB conversion alone: {decode:.1f}; a plain re-encode: {plain:.1f})")


Rows = dict[str, tuple[float, dict | None]]  # run -> (seconds, scores; None: no masks)


def run_clip(args: argparse.Namespace, seed: int) -> None:
    """Make one clip, run the plain re-encode, veil's variants and deface on it, print."""
    size = tuple(int(v) for v in args.size.split("x"))
    min_face = args.min_face or DEFAULT_MIN_FACE
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = folder / "clip.mp4"
        truth = make_clip(clip, size, args.fps, args.seconds,  # type: ignore[arg-type]
                          seed=seed, turned=args.rotate == 90)
        n = len(truth)
        print(f"clip (seed {seed}): {args.size} {args.fps} fps, {n} frames, "
              f"{sum(len(f) for f in truth)} face-frames")
        encode = EncodeOptions()
        rows: Rows = {}
        t, cpu = time.perf_counter(), time.process_time()
        encode_video(clip, folder / "plain.mp4", lambda i: [], encode)
        plain = time.perf_counter() - t
        plain_cpu = 1000 * (time.process_time() - cpu) / n
        rows["plain re-encode"] = (plain, None)
        variants = {
            "veil, full view every frame": (ScheduleOptions(every=1, sideways_whole_every=0),
                                            cores),
            "veil, 1 worker": (ScheduleOptions(), 1),
            f"veil ({cores} workers)": (ScheduleOptions(), cores),
        }
        if args.veil_only:
            variants = {f"veil ({cores} workers)": (ScheduleOptions(), cores)}
        runs = {}
        for name, (schedule, workers) in variants.items():
            runs[name] = run_veil(clip, folder / f"{name}.mp4", truth, schedule, workers,
                                  min_face, encode)
            rows[name] = (runs[name].seconds, runs[name].result)
        if not (args.no_deface or args.veil_only):
            dst = folder / "deface.mp4"
            t = time.perf_counter()
            run_deface(clip, dst)
            rows["deface"] = (time.perf_counter() - t, score(clip, dst, truth))
        decode = decode_cost(clip, n)
    print_table(rows, n)
    print_costs(runs, decode, plain_cpu)


def print_table(rows: Rows, n: int) -> None:
    """Protection by face height, what else is masked, and time, one column per run."""
    print("\n| | " + " | ".join(rows) + " |")
    print("|---" * (len(rows) + 1) + "|")
    results = [r for _, r in rows.values()]
    for b in (b[2] for b in HEIGHT_BUCKETS):
        cells = []
        for res in results:
            ok, total = (0, 0) if res is None else res["prot"].get(b, [0, 0])
            cells.append("" if res is None else f"{100 * ok / total:.2f}% of {total}"
                         if total else "-")
        print(f"| {b} px | " + " | ".join(cells) + " |")
    for key, label in (("unmasked_24", "unmasked face-frames >= 24 px"),
                       ("flicker", "of which flicker")):
        print(f"| {label} | " + " | ".join("" if r is None else str(r[key]) for r in results)
              + " |")
    for key, label in (("nonface", "non-face masked"),
                       ("nonface_median", "non-face masked per frame, median"),
                       ("nonface_p90", "non-face masked per frame, 90th percentile")):
        print(f"| {label} | " + " | ".join(
            "" if r is None else f"{100 * r[key]:.2f}%" for r in results) + " |")
    print("| frames more than half masked | " + " | ".join(
        "" if r is None else str(r["half_masked"]) for r in results) + " |")
    seconds = [s for s, _ in rows.values()]
    print("| frames per second | " + " | ".join(f"{n / s:.1f}" for s in seconds) + " |")
    print("| time vs plain re-encode | " + " | ".join(f"{s / seconds[0]:.2f}x" for s in seconds)
          + " |")
    if "deface" in rows:
        d = rows["deface"][0]
        print("| time vs deface | " + " | ".join(f"{s / d:.2f}x" for s in seconds) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--no-deface", action="store_true")
    ap.add_argument("--veil-only", action="store_true",
                    help="veil on the schedule with all workers only: no deface, no variants")
    ap.add_argument("--min-face", type=float, default=None, help="veil's --min-face (px)")
    ap.add_argument("--rotate", type=int, default=0, choices=(0, 90),
                    help="turn every frame 90 degrees: every face lies on its side")
    ap.add_argument("--seed", default="0",
                    help="which clips, comma-separated (other photos, other camera moves; "
                         "0: the one quoted)")
    args = ap.parse_args()
    for seed in args.seed.split(","):
        run_clip(args, int(seed))


if __name__ == "__main__":
    main()
