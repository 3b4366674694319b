"""Run detector configurations over the dev set once and cache their raw boxes (for tuning).

python bench/cache_detections.py OUTDIR NAME...   (names: see CONFIGS)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from veil.detect.centerface import CenterFace  # noqa: E402
from veil.detect.multiscale import Mirrored, Resized  # noqa: E402
from veil.detect.retinaface import RetinaFace  # noqa: E402
from wider import DEV, load_dev  # noqa: E402

CONFIGS = {
    "cf1": lambda: CenterFace(threshold=0.05),
    "cf2": lambda: Resized(CenterFace(threshold=0.05), 2.0),
    "cf05": lambda: Resized(CenterFace(threshold=0.05), 0.5),
    "rf1": lambda: RetinaFace(threshold=0.05),
    "rf2": lambda: Resized(RetinaFace(threshold=0.05), 2.0),
    "rf05": lambda: Resized(RetinaFace(threshold=0.05), 0.5),
    "cf15": lambda: Resized(CenterFace(threshold=0.05), 1.5),
    "rf15": lambda: Resized(RetinaFace(threshold=0.05), 1.5),
    "cf075": lambda: Resized(CenterFace(threshold=0.05), 0.75),
    "cfm1": lambda: Mirrored(CenterFace(threshold=0.05)),
    "rfm1": lambda: Mirrored(RetinaFace(threshold=0.05)),
    "rfm2": lambda: Mirrored(Resized(RetinaFace(threshold=0.05), 2.0)),
}


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    records = load_dev()
    for name in sys.argv[2:]:
        det = CONFIGS[name]()
        boxes, times = {}, []
        for rec in records:
            img = np.asarray(Image.open(DEV / "images" / rec["file"]).convert("RGB"))
            t = time.perf_counter()
            d = det.detect(img)
            times.append(time.perf_counter() - t)
            boxes[rec["file"]] = np.concatenate([d.boxes, d.scores[:, None]], axis=1)
        np.save(out / f"{name}.npy", np.array(boxes, dtype=object), allow_pickle=True)
        print(name, "median s", np.median(times), flush=True)


if __name__ == "__main__":
    main()
