"""Legible text: how much of it `--cover faces,text` and `--cover faces,pii` cover, on dev
photos with name tags, placards and screens drawn onto them (several fonts, text 8 to 80 px
tall, turned up to 30 degrees), against the ground truth drawn with them; the photo masked
outside the items and the time, beside a faces-only run in the same process. For `pii`, the
lines of personal data (name tags, screens) protected and the placards' slogans left
legible.

A line is protected when at least 90% of its ink (the pixels its letters were drawn with) is
masked. Masks are measured from each run's plan, drawn onto a blank image as veil draws them.

    python bench/text.py                  # every 16th WIDER dev photo, three items on each
    python bench/text.py --every 32 --seed 2
    python bench/text.py --runs faces,pii   # personal data only, beside faces alone
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).parent))
import veil  # noqa: E402
from veil.masks import draw_masks  # noqa: E402
from wider import DEV, load_dev  # noqa: E402

PROTECTED = 0.9
PLACE_TRIES = 20
BUCKETS = ((8, 12), (12, 24), (24, 48), (48, 81))
NAMES = ["ANNA KOWALSKI", "Dr. Samir Haddad", "Li Wei", "JOSE M. FERREIRA", "Amara Okafor",
         "Press: Jon Berg", "STAFF  Nadia Petrova"]
SLOGANS = ["JUSTICE FOR ALL", "Free the 12", "Stop the evictions now", "WE WILL NOT BE SILENT",
           "Housing is a right", "Respect our vote"]
SCREENS = ["Inbox (3)  maria.r@example.org", "+44 20 7946 0958", "Account 4921 3382 1107",
           "Meeting at 7pm, Elm St 42", "Boarding pass  SEAT 14C"]
FONT_NAMES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
              "LiberationSans-Regular.ttf", "LiberationSerif-Bold.ttf")


def fonts() -> list[str | None]:
    """The TrueType fonts found here (None: Pillow's own scalable font)."""
    found: list[str | None] = [None]
    roots = [Path("/usr/share/fonts")]
    try:
        import matplotlib

        roots.append(Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf")
    except ImportError:
        pass
    for name in FONT_NAMES:
        for root in roots:
            hits = sorted(root.rglob(name)) if root.is_dir() else []
            if hits:
                found.append(str(hits[0]))
                break
    return found


@dataclass
class Line:
    ink: np.ndarray  # the photo's pixels its letters cover
    height: int  # the letters' height, in pixels
    personal: bool  # personal data (a name tag's, a screen's line), not a placard's slogan


def font_of(path: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size) if path is None else ImageFont.truetype(path, size)


def item(lines: list[str], size: int, font_path: str | None, paper: tuple[int, int, int],
         ink: tuple[int, int, int]) -> tuple[Image.Image, list[tuple[Image.Image, int]]]:
    """A card with its lines drawn: the card (RGBA) and, per line, its ink as a mask the
    card's size and the letters' height."""
    font = font_of(font_path, size)
    boxes = [ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), t, font=font)
             for t in lines]
    pad = max(4, size // 2)
    width = max(b[2] - b[0] for b in boxes) + 2 * pad
    height = sum(b[3] - b[1] + pad for b in boxes) + pad
    card = Image.new("RGBA", (width, height), (*paper, 255))
    draw = ImageDraw.Draw(card)
    masks, y = [], pad
    for text, box in zip(lines, boxes, strict=True):
        origin = (pad - box[0], y - box[1])
        draw.text(origin, text, fill=(*ink, 255), font=font)
        mask = Image.new("L", card.size, 0)
        ImageDraw.Draw(mask).text(origin, text, fill=255, font=font)
        masks.append((mask, box[3] - box[1]))
        y += box[3] - box[1] + pad
    return card, masks


def overlay(photo: Image.Image, rng: np.random.Generator, font_list: list[str | None]
            ) -> tuple[Image.Image, list[Line], np.ndarray]:
    """The photo with a name tag, a placard and a screen on it, the lines' ground truth, and
    where the items lie."""
    photo = photo.convert("RGB")
    truth: list[Line] = []
    items = np.zeros((photo.height, photo.width), bool)
    kinds = [([str(rng.choice(NAMES))], (250, 250, 250), (20, 20, 30), True),
             (list(rng.choice(SLOGANS, size=2, replace=False)), (255, 220, 60), (150, 10, 10),
              False),
             ([str(rng.choice(SCREENS))], (15, 20, 40), (210, 230, 255), True)]
    for lines, paper, ink, personal in kinds:
        size = int(rng.integers(10, 100))  # point size: letters about 8 to 80 px tall
        card, masks = item(lines, size, font_list[int(rng.integers(len(font_list)))], paper,
                           ink)
        angle = float(rng.uniform(-30, 30))
        card = card.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
        masks = [(m.rotate(angle, expand=True), h) for m, h in masks]
        if card.width >= photo.width or card.height >= photo.height:
            continue
        for _ in range(PLACE_TRIES):  # apart from the items already there, where there is room
            x = int(rng.integers(0, photo.width - card.width))
            y = int(rng.integers(0, photo.height - card.height))
            if not items[y:y + card.height, x:x + card.width].any():
                break
        photo.paste(card, (x, y), card)
        items[y:y + card.height, x:x + card.width] |= np.asarray(card)[..., 3] > 0
        for mask, height in masks:
            full = np.zeros((photo.height, photo.width), bool)
            full[y:y + mask.height, x:x + mask.width] = np.asarray(mask) > 128
            if full.any():
                truth.append(Line(full, height, personal))
    return photo, truth, items


def masked(plan: veil.ImagePlan) -> np.ndarray:
    canvas = np.zeros((plan.height, plan.width, 3), np.uint8)
    draw_masks(canvas, plan.to_cover, veil.MaskOptions(color=(255, 255, 255)))
    return canvas[..., 0] == 255


RUNS = {"faces": "faces only (--cover faces)", "text": "faces and text (--cover faces,text)",
        "pii": "faces and personal data (--cover faces,pii)"}
LEFT = 0.1  # a line other than personal data is left legible when under this share is masked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", default="faces,text,pii", help=f"of {', '.join(RUNS)}")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    font_list = fonts()
    models = veil.load_models(threads=1)
    records = load_dev(every=args.every)
    runs = {RUNS[k]: ("faces",) if k == "faces" else ("faces", k) for k in args.runs.split(",")}
    # Per run, each drawn line: its bucket, whether it is personal data, its share masked.
    shares: dict[str, list[tuple[tuple[int, int], bool, float]]] = defaultdict(list)
    area: dict[str, list[float]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    for rec in records:
        photo, truth, items = overlay(Image.open(DEV / "images" / rec["file"]), rng, font_list)
        buf = io.BytesIO()
        photo.save(buf, "PNG")
        for name, cover in runs.items():
            options = veil.Options(detect=veil.DetectOptions(cover=cover))
            began = time.perf_counter()
            result = veil.anonymize_image(buf.getvalue(), options, models=models)
            seconds[name].append(time.perf_counter() - began)
            assert isinstance(result.plan, veil.ImagePlan)
            mask = masked(result.plan)
            area[name].append(float(mask[~items].mean()))
            for line in truth:
                bucket = next((b for b in BUCKETS if b[0] <= line.height < b[1]), None)
                if bucket is not None:
                    shares[name].append((bucket, line.personal, float(mask[line.ink].mean())))
    print(f"{len(records)} WIDER dev photos (every {args.every}th), a name tag, a placard (two "
          f"lines) and a screen on each; {len(font_list)} fonts; seed {args.seed}; one thread\n")
    base = float(np.mean(next(iter(seconds.values()))))
    print("All lines protected (90% of their ink masked):\n")
    print("| | " + " | ".join(f"lines {a}-{b - 1} px" for a, b in BUCKETS)
          + " | masked outside the items | seconds a photo |")
    print("|---|" + "---|" * (len(BUCKETS) + 2))
    for name in runs:
        mean = float(np.mean(seconds[name]))
        print(f"| {name} | " + " | ".join(_cells(shares[name], None)) + f" | "
              f"{100 * np.mean(area[name]):.2f}% | {mean:.3f} ({mean / base:.2f}x) |")
    print("\nPersonal data (name tags, screens) protected; slogans (placards) left legible "
          f"(under {LEFT:.0%} of their ink masked), all sizes:\n")
    print("| | " + " | ".join(f"personal {a}-{b - 1} px" for a, b in BUCKETS)
          + " | slogans left legible |")
    print("|---|" + "---|" * (len(BUCKETS) + 1))
    for name in runs:
        slogans = [share < LEFT for _, personal, share in shares[name] if not personal]
        print(f"| {name} | " + " | ".join(_cells(shares[name], True))
              + f" | {100 * np.mean(slogans):.1f}% of {len(slogans)} |")


def _cells(shares: list[tuple[tuple[int, int], bool, float]], personal: bool | None
           ) -> list[str]:
    """Per bucket, the share of lines (all, or only personal ones) protected."""
    cells = []
    for bucket in BUCKETS:
        hits = [share >= PROTECTED for b, p, share in shares
                if b == bucket and (personal is None or p == personal)]
        cells.append(f"{100 * np.mean(hits):.1f}% of {len(hits)}" if hits else "-")
    return cells


if __name__ == "__main__":
    main()
