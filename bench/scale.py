"""Ray against the local path, in one run: a folder of photos and a folder of clips through the
whole `veil DIR -o OUT` command, locally (one process; one per core) and with `--ray` on a
real cluster of one-CPU nodes started here (ray.cluster_utils: a head with no CPU, then one
and two worker nodes, each its own raylet, as separate machines would be).

The cluster is up before the clock starts (as a real one is); the command's own start-up
(connecting, starting actors, loading models) is inside the figure, as a user waits for it.
Each round runs every configuration; the figures are medians over the rounds.

    python bench/scale.py                         # 48 photos, 2 clips of 4 s at 720p, 3 rounds
    python bench/scale.py --photos 96 --rounds 5 --clips 0
    python bench/scale.py --photos 0 --clips 1 --seconds 8   # one video, split
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from video import make_clip  # noqa: E402
from wider import DEV, load_dev  # noqa: E402

NODE = {"num_cpus": 1, "object_store_memory": 200 * 2**20}


def veil(folder: Path, out: Path, *flags: str) -> float:
    """Wall seconds of the whole command."""
    shutil.rmtree(out, ignore_errors=True)
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "veil", str(folder), "-o", str(out), "-q", *flags],
                   check=True)
    return time.perf_counter() - began


def on_cluster(nodes: int, work: Callable[[str], float]) -> float:
    """`work(address)` on a fresh cluster of `nodes` one-CPU worker nodes."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={"num_cpus": 0, "object_store_memory": 200 * 2**20})
    try:
        for _ in range(nodes):
            cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        return work(cluster.address)
    finally:
        cluster.shutdown()


def configurations(folder: Path, out: Path) -> dict[str, Callable[[], float]]:
    return {
        "local, one process (--jobs 1 --threads 1)":
            lambda: veil(folder, out, "--jobs", "1", "--threads", "1"),
        "local, one process per core (--jobs 0)": lambda: veil(folder, out),
        "Ray, 1 node of 1 CPU": lambda: on_cluster(1, lambda a: veil(folder, out, f"--ray={a}")),
        "Ray, 2 nodes of 1 CPU": lambda: on_cluster(2, lambda a: veil(folder, out, f"--ray={a}")),
    }


def measure(folder: Path, out: Path, rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = defaultdict(list)
    runs = configurations(folder, out)
    for round_ in range(rounds):
        names = list(runs) if round_ % 2 == 0 else list(reversed(runs))
        for name in names:
            times[name].append(runs[name]())
    return {name: float(np.median(values)) for name, values in times.items()}


def table(title: str, seconds: dict[str, float], count: int, unit: str) -> None:
    base, one = seconds["local, one process (--jobs 1 --threads 1)"], seconds[
        "Ray, 1 node of 1 CPU"]
    print(f"\n{title}\n")
    print(f"| | seconds | {unit}/s | per {unit[:-1]}, core-seconds | vs local one process |")
    print("|---|---|---|---|---|")
    for name, s in seconds.items():
        cores = 1 if "1 node" in name or "--jobs 1" in name else 2
        print(f"| {name} | {s:.1f} | {count / s:.2f} | {cores * s / count:.3f} | "
              f"{base / s:.2f}x |")
    print(f"\nRay at one node over the local path at one process: {100 * (one / base - 1):+.1f}%;"
          f" 2 nodes over 1 node: {one / seconds['Ray, 2 nodes of 1 CPU']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=48)
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    records = load_dev(every=max(1, len(load_dev()) // max(1, args.photos)))[: args.photos]
    with tempfile.TemporaryDirectory() as tmp:
        photos, clips = Path(tmp) / "photos", Path(tmp) / "clips"
        photos.mkdir()
        clips.mkdir()
        for rec in records:
            shutil.copy(DEV / "images" / rec["file"], photos / Path(rec["file"]).name)
        frames = 0
        for i in range(args.clips):
            frames += len(make_clip(clips / f"clip{i}.mp4", (1280, 720), 25, args.seconds,
                                    seed=i))
        print(f"{len(records)} WIDER dev photos; {args.clips} clips of 1280x720, {frames} "
              f"frames in all; default profile; median of {args.rounds} rounds")
        if records:
            table("Photos", measure(photos, Path(tmp) / "out", args.rounds), len(records),
                  "photos")
        if args.clips:
            table("Videos (on Ray: detection in spans, rendering in parts joined without "
                  "encoding again, across the actors)",
                  measure(clips, Path(tmp) / "out", args.rounds), frames, "frames")


if __name__ == "__main__":
    main()
