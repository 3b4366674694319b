"""A folder of photos: the whole `veil DIR -o OUT` command with its photos on a process pool
(--jobs 0: one process per core) beside one process (--jobs 1), in the same run.

Each round runs both, in alternating order, on the same WIDER dev photos; the figure is the
median wall time of the whole command (start-up and model loading included, as a user
waits for them) and the ratio.

    python bench/folder.py                  # 24 photos, 3 rounds
    python bench/folder.py --photos 48 --rounds 5
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from wider import DEV, load_dev  # noqa: E402


def run(folder: Path, out: Path, jobs: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "veil", str(folder), "-o", str(out), "-q",
                    "--jobs", jobs], check=True)
    return time.perf_counter() - began


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    records = load_dev(every=max(1, len(load_dev()) // args.photos))[: args.photos]
    times: dict[str, list[float]] = {"1": [], "0": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for rec in records:
            shutil.copy(DEV / "images" / rec["file"], folder / Path(rec["file"]).name)
        for round_ in range(args.rounds):
            for jobs in ("1", "0") if round_ % 2 == 0 else ("0", "1"):
                times[jobs].append(run(folder, Path(tmp) / f"out{jobs}", jobs))
    one, pool = np.median(times["1"]), np.median(times["0"])
    print(f"\n{len(records)} WIDER dev photos, default profile, median of {args.rounds} runs\n")
    print("| | seconds | photos/s |")
    print("|---|---|---|")
    print(f"| --jobs 1 (one process) | {one:.1f} | {len(records) / one:.2f} |")
    print(f"| --jobs 0 (one per core) | {pool:.1f} | {len(records) / pool:.2f} |")
    print(f"| ratio (pool / one) | {pool / one:.2f}x | |")


if __name__ == "__main__":
    main()
