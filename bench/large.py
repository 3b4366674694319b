"""12-megapixel photos: time, peak memory and protection per profile, beside deface.

Each test photo is a 4x3 mosaic of twelve dev photos resized to 1000x750 (4000x3000 px, a
phone camera's 12 MP), with their face boxes moved along. Every tool runs in a fresh process
so its peak resident memory is its own.

    python bench/large.py            # 6 mosaics
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from wider import DEV, Tally, load_dev  # noqa: E402

TILE_W, TILE_H, COLS, ROWS = 1000, 750, 4, 3

WORKER = r"""
import json, resource, sys, time, contextlib, io
from pathlib import Path
tool, profile, out, *paths = sys.argv[1:]
times = []
if tool == "veil":
    import veil
    options = veil.Options.from_flat({"profile": profile, "format": "png"})
    models = veil.load_models(profile)
    for p in paths:
        t = time.perf_counter()
        veil.anonymize_file(Path(p), Path(out) / Path(p).with_suffix(".png").name, options,
                            models=models)
        times.append(time.perf_counter() - t)
else:
    from deface.centerface import CenterFace
    from deface.deface import image_detect
    with contextlib.redirect_stdout(io.StringIO()):
        cf = CenterFace(in_shape=None, backend="auto")
    for p in paths:
        t = time.perf_counter()
        image_detect(p, str(Path(out) / Path(p).with_suffix(".png").name), cf, 0.2, "solid",
                     1.3, True, False, False, False)
        times.append(time.perf_counter() - t)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"times": times, "peak_mib": rss}))
"""


def make_mosaics(n: int, folder: Path) -> list[dict]:
    records = load_dev()
    step = max(1, len(records) // (n * COLS * ROWS))
    picks = records[::step]
    out = []
    for m in range(n):
        canvas = Image.new("RGB", (TILE_W * COLS, TILE_H * ROWS))
        faces = []
        for k in range(COLS * ROWS):
            rec = picks[(m * COLS * ROWS + k) % len(picks)]
            img = Image.open(DEV / "images" / rec["file"]).convert("RGB")
            sx, sy = TILE_W / img.width, TILE_H / img.height
            ox, oy = (k % COLS) * TILE_W, (k // COLS) * TILE_H
            canvas.paste(img.resize((TILE_W, TILE_H), Image.LANCZOS), (ox, oy))
            for f in rec["faces"]:
                x, y, w, h = f["box"]
                faces.append({**f, "box": [ox + x * sx, oy + y * sy, w * sx, h * sy]})
        path = folder / f"mosaic{m}.jpg"
        canvas.save(path, quality=92)
        out.append(
            {"file": path.name, "width": canvas.width, "height": canvas.height, "faces": faces}
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=6)
    ap.add_argument("--profiles", default="fast,balanced,thorough")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recs = make_mosaics(args.n, folder)
        paths = [str(folder / r["file"]) for r in recs]
        runs = [("deface", "-")] + [("veil", p) for p in args.profiles.split(",")]
        print(f"{args.n} photos of 4000x3000 (12 MP); protected share by face height")
        print(
            f"{'tool':18s}{'s/photo':>9s}{'peak MiB':>10s}{'12-24':>8s}{'24-48':>8s}"
            f"{'48-96':>8s}{'>=96':>8s}{'non-face':>10s}"
        )
        for tool, profile in runs:
            out = folder / f"out-{tool}-{profile}"
            out.mkdir()
            res = subprocess.run(
                [sys.executable, "-c", WORKER, tool, profile, str(out), *paths],
                capture_output=True,
                text=True,
                check=True,
            )
            stats = json.loads(res.stdout.strip().splitlines()[-1])
            tally = Tally()
            for rec in recs:
                img = np.asarray(
                    Image.open(out / Path(rec["file"]).with_suffix(".png").name).convert("RGB")
                )
                src = np.asarray(Image.open(folder / rec["file"]).convert("RGB"))
                tally.add(rec, (img == 0).all(axis=2), (src == 0).all(axis=2))
            label = tool if tool == "deface" else f"veil {profile}"
            print(
                f"{label:18s}{np.median(stats['times']):9.2f}{stats['peak_mib']:10.0f}"
                + "".join(
                    f"{100 * tally.share(b):7.2f}%" for b in ("12-24", "24-48", "48-96", ">=96")
                )
                + f"{100 * tally.nonface_share:9.2f}%",
                flush=True,
            )


if __name__ == "__main__":
    main()
