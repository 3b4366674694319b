"""Both passes of a video at once (pipeline/both_passes.py) against the two passes in turn,
on one clip made from WIDER dev photos, in the same run.

Three ways, each timed (wall and CPU seconds, this process and its render processes): the
whole video in turn (`threads=0`: what a host under 8 cores runs), in parts as two calls
(`plan_video`, then `anonymize_video` with its plan), and in parts as one call (both passes
at once). `--threads` stands in for a host with that many cores (8: two workers).

`--wait-ms N` is a simulation, not veil: every look of the detectors waits N ms and finds
nothing, every frame viewed whole, as threads feeding a GPU wait on it; it shows whether the
render parts hide behind detection where detection does not need the cores.

    python bench/passes.py --seconds 6                               # veil itself
    python bench/passes.py --size 1280x720 --seconds 20 --wait-ms 30  # the simulation
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import veil  # noqa: E402
from veil.detect.base import Detections  # noqa: E402
from veil.pipeline.schedule import GPU_SCHEDULE  # noqa: E402
from video import make_clip  # noqa: E402


class Waiting:
    """The simulation's detector: it waits, and finds nothing."""

    name = "waiting"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def detect(self, image: object) -> Detections:
        time.sleep(self.seconds)
        return Detections()


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run(way: str, clip: Path, out: Path, models: veil.Models, threads: int,
        ) -> tuple[float, float, float, dict | None]:
    """One way: wall seconds, until the plan was whole, CPU seconds, the report's passes."""
    out.unlink(missing_ok=True)
    wall, cpu = time.perf_counter(), cpu_seconds()
    if way == "parts, two calls":
        plan = veil.plan_video(clip, models=models, threads=threads)
        planned = time.perf_counter() - wall
        _, report = veil.anonymize_video(clip, out, plan=plan, models=models, threads=threads)
    else:
        _, report = veil.anonymize_video(clip, out, models=models,
                                         threads=0 if way == "whole, in turn" else threads)
        planned = report.timings["detect"]
    return time.perf_counter() - wall, planned, cpu_seconds() - cpu, report.passes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--wait-ms", type=float, default=0.0, help="the simulation (see above)")
    args = ap.parse_args()
    models = veil.load_video_models()
    ways = ["whole, in turn", "parts, two calls", "parts, one call"]
    if args.wait_ms:
        waiting = Waiting(args.wait_ms / 1000)
        models = dataclasses.replace(models, detector=waiting, auditor=waiting,
                                     schedule=GPU_SCHEDULE)
        ways = ways[1:]
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        size = tuple(int(v) for v in args.size.split("x"))
        make_clip(clip, (size[0], size[1]), 30, args.seconds)
        results: dict[str, list] = {way: [] for way in ways}
        for _ in range(args.runs):  # alternated, so that a slow minute hits all ways
            for way in ways:
                results[way].append(run(way, clip, Path(tmp) / "out.mp4", models,
                                        args.threads))
    print(f"\n{args.size}, {args.seconds:g} s, threads={args.threads}"
          f"{f', every look waits {args.wait_ms:g} ms (simulation)' if args.wait_ms else ''};"
          f" medians of {args.runs}\n")
    print("| | wall, s | plan whole after, s | CPU, s | passes |")
    print("|---|---|---|---|---|")
    for way, runs in results.items():
        wall, planned, cpu = (statistics.median(r[k] for r in runs) for k in range(3))
        print(f"| {way} | {wall:.2f} | {planned:.2f} | {cpu:.2f} | {runs[-1][3] or ''} |")


if __name__ == "__main__":
    main()
