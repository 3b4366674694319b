"""End-to-end: the `veil` command on real photos, as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import covered_share, identifying_tags, run_veil, shared


def test_photo_writes_veiled_copy_with_faces_covered(
    tmp_path: Path, example_jpeg: bytes, example_faces: list
) -> None:
    src = tmp_path / "photo.jpg"
    src.write_bytes(example_jpeg)
    res = run_veil(src, "--report", tmp_path / "report.json")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "photo.veiled.jpg"
    assert out.exists()
    assert len(example_faces) == 3
    for box in example_faces:
        assert covered_share(out, box) > 0.95
    assert identifying_tags(out) == []
    assert Image.open(out).size == Image.open(src).size


def test_report_lists_geometry_and_tag_names_never_values(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    src = tmp_path / "photo.jpg"
    src.write_bytes(example_jpeg)
    res = run_veil(src, "--report", tmp_path / "report.json", "-q")
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "report.json").read_text()
    report = json.loads(text)
    entry = report["files"][0]
    assert entry["status"] == "ok"
    assert len(entry["faces"]) >= 3 and len(entry["masks"]) == len(entry["faces"])
    assert set(entry["faces"][0]) == {"box", "score", "source"}
    assert "GPS:GPSLatitude" in entry["metadata_removed"]
    assert "EXIF:BodySerialNumber" in entry["metadata_removed"]
    # values never reach the report
    assert (
        "SN-0012345" not in text
        and "ExampleCam" not in text
        and "52" not in str(entry["metadata_removed"])
    )
    assert set(entry["timings"]) >= {"decode", "detect", "render", "encode", "total"}


def test_folder_is_mirrored_with_same_sizes_and_relative_paths(tmp_path: Path) -> None:
    src = tmp_path / "in"
    picks = (
        sorted(shared("wider-dev/images").glob("1--Handshaking/*.jpg"))[:3]
        + sorted(shared("wider-dev/images").glob("12--Group/*.jpg"))[:3]
    )
    for p in picks:
        dst = src / p.parent.name / "nested" / p.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dst)
    res = run_veil(src, "-o", tmp_path / "out", "--mask", "solid", "--format", "png", "-q")
    assert res.returncode == 0, res.stderr
    for p in picks:
        out = tmp_path / "out" / p.parent.name / "nested" / (p.stem + ".png")
        assert out.exists(), out
        assert Image.open(out).format == "PNG"
        assert Image.open(out).size == Image.open(p).size


def test_output_option_takes_a_file_name(tmp_path: Path, example_jpeg: bytes) -> None:
    src = tmp_path / "a.jpg"
    src.write_bytes(example_jpeg)
    res = run_veil(src, "-o", tmp_path / "clean.webp", "--format", "webp", "-q")
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "clean.webp").format == "WEBP"
    res = run_veil(src, "-o", str(tmp_path / "newdir") + "/", "-q")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "newdir" / "a.jpg").exists()


def test_mosaic_blur_and_colour_options(
    tmp_path: Path, example_jpeg: bytes, example_faces: list
) -> None:
    src = tmp_path / "p.png"
    Image.open(__import__("io").BytesIO(example_jpeg)).save(src)
    orig = np.asarray(Image.open(src).convert("RGB")).astype(int)
    res = run_veil(src, "-o", tmp_path / "blur.png", "--mask", "blur", "-q")
    assert res.returncode == 0
    assert "blur can be partly reversed" in res.stderr
    res = run_veil(src, "-o", tmp_path / "mosaic.png", "--mask", "mosaic", "-q")
    assert res.returncode == 0 and "reversed" not in res.stderr
    res = run_veil(src, "-o", tmp_path / "red.png", "--color", "#ff0000", "--shape", "box", "-q")
    assert res.returncode == 0
    x1, y1, x2, y2 = (int(v) for v in example_faces[0])
    red = np.asarray(Image.open(tmp_path / "red.png").convert("RGB"))
    assert (red[y1:y2, x1:x2] == [255, 0, 0]).all()  # box shape covers the whole box
    mosaic = np.asarray(Image.open(tmp_path / "mosaic.png").convert("RGB")).astype(int)
    face = mosaic[y1:y2, x1:x2]
    assert np.abs(face - orig[y1:y2, x1:x2]).mean() > 5
    # a coarse mosaic: few distinct cells across the face
    row = face[face.shape[0] // 2]
    changes = int((np.abs(np.diff(row, axis=0)).sum(axis=1) > 0).sum())
    assert changes <= 12


def test_example_command_runs_on_the_bundled_photo(tmp_path: Path) -> None:
    res = run_veil("--example", "-o", tmp_path / "ex", "-q")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "ex" / "example.veiled.jpg").exists()
    report = json.loads((tmp_path / "ex" / "report.json").read_text())
    assert report["summary"]["faces"] >= 3


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux lets a file name be any bytes")
def test_report_of_a_file_name_that_is_not_utf8_is_valid_unicode(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    """A file named b'caf\\xe9.jpg' (Latin-1, from an old camera card) gave the report lone
    surrogates (`"caf\\udce9.jpg"`), JSON that strict parsers (Rust's serde, Go's, jq's)
    refuse or mangle. Its bytes are written as `\\xe9`."""
    folder = tmp_path / "in"
    folder.mkdir()
    (Path(os.fsdecode(bytes(folder) + b"/caf\xe9.jpg"))).write_bytes(example_jpeg)
    res = run_veil(folder, "-o", tmp_path / "out", "--no-audit", "-q", "--report",
                   tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "r.json").read_bytes().decode("utf-8"))
    entry = report["files"][0]
    assert entry["input"] == "caf\\xe9.jpg" and entry["output"].endswith("caf\\xe9.jpg")
    json.dumps(report, ensure_ascii=False).encode("utf-8")  # no lone surrogate anywhere
