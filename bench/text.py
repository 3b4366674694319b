"""Legible text: how much of it `--cover faces,text` covers, on dev photos with name tags,
placards and screens drawn onto them (several fonts, text 8 to 80 px tall, turned up to 30
degrees), against the ground truth drawn with them; the photo masked outside the items and
the time, beside a faces-only run in the same process.

A line is protected when at least 90% of its ink (the pixels its letters were drawn with) is
masked. Masks are measured from each run's plan, drawn onto a blank image as veil draws them.

    python bench/text.py                  # every 16th WIDER dev photo, three items on each
    python bench/text.py --every 32 --seed 2
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
    kinds = [([str(rng.choice(NAMES))], (250, 250, 250), (20, 20, 30)),
             (list(rng.choice(SLOGANS, size=2, replace=False)), (255, 220, 60), (150, 10, 10)),
             ([str(rng.choice(SCREENS))], (15, 20, 40), (210, 230, 255))]
    for lines, paper, ink in kinds:
        size = int(rng.integers(10, 100))  # point size: letters about 8 to 80 px tall
        card, masks = item(lines, size, font_list[int(rng.integers(len(font_list)))], paper,
                           ink)
        angle = float(rng.uniform(-30, 30))
        card = card.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
        masks = [(m.rotate(angle, expand=True), h) for m, h in masks]
        if card.width >= photo.width or card.height >= photo.height:
            continue
        x = int(rng.integers(0, photo.width - card.width))
        y = int(rng.integers(0, photo.height - card.height))
        photo.paste(card, (x, y), card)
        items[y:y + card.height, x:x + card.width] |= np.asarray(card)[..., 3] > 0
        for mask, height in masks:
            full = np.zeros((photo.height, photo.width), bool)
            full[y:y + mask.height, x:x + mask.width] = np.asarray(mask) > 128
            if full.any():
                truth.append(Line(full, height))
    return photo, truth, items


def masked(plan: veil.ImagePlan) -> np.ndarray:
    canvas = np.zeros((plan.height, plan.width, 3), np.uint8)
    draw_masks(canvas, plan.to_cover, veil.MaskOptions(color=(255, 255, 255)))
    return canvas[..., 0] == 255


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    font_list = fonts()
    models = veil.load_models(threads=1)
    records = load_dev(every=args.every)
    runs = {"faces only (--cover faces)": ("faces",), "faces and text (--cover faces,text)":
            ("faces", "text")}
    lines: dict[str, dict[tuple[int, int], list[bool]]] = {n: defaultdict(list) for n in runs}
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
                    lines[name][bucket].append(mask[line.ink].mean() >= PROTECTED)
    print(f"{len(records)} WIDER dev photos (every {args.every}th), a name tag, a placard (two "
          f"lines) and a screen on each; {len(font_list)} fonts; seed {args.seed}; one thread\n")
    print("| | " + " | ".join(f"lines {a}-{b - 1} px" for a, b in BUCKETS)
          + " | masked outside the items | seconds a photo |")
    print("|---|" + "---|" * (len(BUCKETS) + 2))
    base = float(np.mean(next(iter(seconds.values()))))
    for name in runs:
        cells = [f"{100 * np.mean(lines[name][b]):.1f}% of {len(lines[name][b])}"
                 if lines[name][b] else "-" for b in BUCKETS]
        mean = float(np.mean(seconds[name]))
        print(f"| {name} | " + " | ".join(cells) + f" | {100 * np.mean(area[name]):.2f}% | "
              f"{mean:.3f} ({mean / base:.2f}x) |")


if __name__ == "__main__":
    main()
