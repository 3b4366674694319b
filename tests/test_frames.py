"""Animated GIF, WebP and PNG, and multi-page TIFF: every frame covered (faces tracked
through the frames), timing kept, written back in the input's format, no metadata."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import identifying_tags, run_veil

SHIFTS = (0, 60, 120, 180, 240)


def _frames(example_jpeg: bytes) -> list[Image.Image]:
    sheet = Image.open(io.BytesIO(example_jpeg)).convert("RGB")
    return [sheet.crop((x, 0, x + 960, 512)) for x in SHIFTS]


def _dark_share(frame: Image.Image, box: list[float], inner: float = 0.6) -> float:
    img = np.asarray(frame.convert("RGB")).astype(int)
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    region = img[int(y1 + h * (1 - inner) / 2):int(y1 + h * (1 + inner) / 2),
                 int(x1 + w * (1 - inner) / 2):int(x1 + w * (1 + inner) / 2)]
    return float((region.max(axis=2) < 40).mean())


@pytest.mark.parametrize(("name", "save"), [
    ("anim.gif", {"format": "GIF", "duration": [80, 120, 80, 120, 80], "loop": 0,
                  "comment": b"shot by J. Doe"}),
    ("anim.webp", {"format": "WEBP", "duration": 100, "loop": 2}),
    ("anim.png", {"format": "PNG", "duration": 100}),
    ("pages.tif", {"format": "TIFF"}),
])
def test_every_frame_is_covered_and_written_back(
    tmp_path: Path, example_jpeg: bytes, example_faces: list[list[float]], name: str, save: dict
) -> None:
    frames = _frames(example_jpeg)
    src = tmp_path / name
    frames[0].save(src, save_all=True, append_images=frames[1:], **save)
    res = run_veil(src, "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    out = tmp_path / (src.stem + ".veiled" + src.suffix)
    with Image.open(out) as written:
        assert written.format == save["format"] and written.n_frames == len(SHIFTS)
        for index, shift in enumerate(SHIFTS):
            written.seek(index)
            written.load()  # WebP says a frame's duration once it is loaded
            if "duration" in save and save["format"] != "PNG":
                wanted = save["duration"]
                wanted = wanted[index] if isinstance(wanted, list) else wanted
                assert written.info["duration"] == wanted
            for x1, y1, x2, y2 in example_faces:
                if x1 - shift >= 0 and x2 - shift <= 960:  # the face is in this frame
                    box = [x1 - shift, y1, x2 - shift, y2]
                    assert _dark_share(written, box) > 0.9, (index, box)
    assert identifying_tags(out) == []
    report = json.loads((tmp_path / "r.json").read_text())["files"][0]
    assert report["faces_found"] >= 3 and f"{len(SHIFTS)} frames, each covered" in str(report)


def test_a_face_on_one_page_is_not_masked_on_the_next(tmp_path: Path,
                                                     example_jpeg: bytes) -> None:
    """Pages of a TIFF (or scenes of an animation) cut from one picture to another: a mask
    does not reach from a face on one page onto a blank page after it."""
    portraits = _frames(example_jpeg)[0]
    blank = Image.new("RGB", portraits.size, (128, 128, 128))
    src = tmp_path / "scans.tif"
    portraits.save(src, save_all=True, append_images=[blank, portraits], format="TIFF")
    res = run_veil(src)
    assert res.returncode == 0, res.stderr
    with Image.open(tmp_path / "scans.veiled.tif") as written:
        shares = []
        for page in range(3):
            written.seek(page)
            shares.append(float((np.asarray(written.convert("RGB")).max(axis=2) < 40).mean()))
    assert shares[0] > 0.05 and shares[2] > 0.05 and shares[1] == 0.0, shares


def test_frames_cannot_be_written_as_one_picture(tmp_path: Path, example_jpeg: bytes) -> None:
    frames = _frames(example_jpeg)
    src = tmp_path / "anim.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:2])
    res = run_veil(src, "--format", "jpg", "-o", f"{tmp_path / 'out'}/", "-q")
    assert res.returncode == 1 and "choose --format webp, png, gif or tiff" in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_animation_plan_has_tracks_and_renders_as_reviewed(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    frames = _frames(example_jpeg)
    src = tmp_path / "anim.webp"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100)
    plan_file = tmp_path / "plan.json"
    assert run_veil("detect", src, "-o", plan_file, "-q").returncode == 0
    plan = json.loads(plan_file.read_text())
    tracks = plan["files"]["anim.webp"]["tracks"]
    assert plan["files"]["anim.webp"]["frames"] == len(SHIFTS) and len(tracks) >= 3
    for track in tracks:
        track["keep"] = True  # a person leaves every face visible
    plan_file.write_text(json.dumps(plan))
    res = run_veil(src, "-o", tmp_path / "kept.webp", "--plan-in", plan_file)
    assert res.returncode == 0 and f"{len(tracks)} kept visible" in res.stderr, res.stderr


def test_frames_over_the_pixel_budget_are_refused(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (100, 100), (i * 10, 0, 0)) for i in range(20)]
    src = tmp_path / "long.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:])
    res = run_veil(src, "--max-megapixels", "0.04", "-o", f"{tmp_path / 'out'}/", "-q")
    assert res.returncode == 1 and "refused" in res.stderr and "20 frames" in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
