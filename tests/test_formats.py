"""Formats, orientation, transparency and metadata removal, checked with exiftool."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

import veil
from conftest import identifying_tags, run_veil, shared, tagged_jpeg


def _example_pixels(example_jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))


@pytest.mark.parametrize(
    "name", ["dirty.jpg", "dirty.png", "dirty.webp", "dirty.tiff", "dirty.heic", "dirty.avif"]
)
def test_metadata_fixtures_come_out_clean(tmp_path: Path, name: str) -> None:
    src = shared(f"metadata/{name}")
    assert identifying_tags(src), "fixture should carry metadata"
    res = run_veil(src, "-o", str(tmp_path / "out") + "/", "-q", "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    outs = list((tmp_path / "out").iterdir())
    assert len(outs) == 1
    assert identifying_tags(outs[0]) == []


def test_jpeg_xl_is_refused_with_a_clear_reason(tmp_path: Path) -> None:
    res = run_veil(shared("metadata/dirty.jxl"), "-o", str(tmp_path / "out") + "/", "-q")
    assert res.returncode == 1
    assert "not an image veil can read" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_gps_and_serial_number_are_removed(tmp_path: Path, example_jpeg: bytes) -> None:
    src = tmp_path / "tagged.jpg"
    src.write_bytes(tagged_jpeg(_example_pixels(example_jpeg)))
    tags_in = identifying_tags(src)
    assert any("GPS" in t for t in tags_in) and any("SerialNumber" in t for t in tags_in)
    res = run_veil(src, "-q")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "tagged.veiled.jpg"
    assert identifying_tags(out) == []
    assert b"SERIAL-778899" not in out.read_bytes() and b"J. Doe" not in out.read_bytes()


@pytest.mark.parametrize(
    "fmt,ext", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("TIFF", ".tif")]
)
def test_format_is_kept(tmp_path: Path, example_jpeg: bytes, fmt: str, ext: str) -> None:
    src = tmp_path / f"in{ext}"
    Image.fromarray(_example_pixels(example_jpeg)).save(src, fmt)
    res = run_veil(src, "-q")
    assert res.returncode == 0, res.stderr
    out = tmp_path / f"in.veiled{ext}"
    assert Image.open(out).format == fmt
    assert identifying_tags(out) == []


def test_heic_becomes_jpeg_and_the_report_says_so(tmp_path: Path, example_jpeg: bytes) -> None:
    from pillow_heif import from_pillow

    src = tmp_path / "iphone.heic"
    heif = from_pillow(Image.fromarray(_example_pixels(example_jpeg)))
    heif.save(str(src), quality=90)
    res = run_veil(src, "-q", "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "iphone.veiled.jpg"
    assert Image.open(out).format == "JPEG"
    assert "written as JPEG (input was HEIF)" in (tmp_path / "r.json").read_text()


def test_exif_orientation_is_baked_into_pixels(tmp_path: Path) -> None:
    # A landscape image stored sideways with orientation 6 (rotate 90 CW to view).
    stored = np.zeros((60, 100, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)  # red strip on the stored left edge
    src = tmp_path / "rotated.jpg"
    src.write_bytes(tagged_jpeg(stored, orientation=6))
    res = run_veil(src, "-q")
    assert res.returncode == 0, res.stderr
    out = np.asarray(Image.open(tmp_path / "rotated.veiled.jpg").convert("RGB"))
    assert out.shape[:2] == (100, 60)  # upright: portrait
    assert out[:15, :, 0].mean() > 200 and out[-15:, :, 0].mean() < 60  # red now on top


def test_transparency_is_kept_and_hidden_colour_cleared(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    rgb = _example_pixels(example_jpeg)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, -50:] = 0  # transparent strip still storing colour
    src = tmp_path / "alpha.png"
    Image.fromarray(np.dstack([rgb, alpha])).save(src)
    res = run_veil(src, "-q")
    assert res.returncode == 0, res.stderr
    out = np.asarray(Image.open(tmp_path / "alpha.veiled.png"))
    assert out.shape[2] == 4
    assert (out[:, -50:, 3] == 0).all()
    assert (out[:, -50:, :3] == 0).all()


def test_non_srgb_icc_profile_is_converted_and_dropped(tmp_path: Path, example_jpeg: bytes) -> None:
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("XYZ"))
    src = tmp_path / "icc.jpg"
    Image.fromarray(_example_pixels(example_jpeg)).save(src, "JPEG", icc_profile=lab.tobytes())
    result = veil.anonymize_image(src.read_bytes())
    assert "icc_profile" not in Image.open(io.BytesIO(result.data)).info
    assert "ICC profile" in result.report.metadata_removed
