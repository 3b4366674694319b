"""A new user's first hour (issue 11): a clone without ../shared collects and skips with
reasons, the CLI says what it did and where, -o's suffix decides the format, an empty run
fails, each command has its own help, usage errors are one line, `veil inspect` shows
values, and a folder of photos runs on a pool of processes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import run_veil, tagged_jpeg, write_clip

ROOT = Path(__file__).resolve().parents[1]


def test_tests_collect_and_skip_with_reasons_without_the_shared_data(tmp_path: Path) -> None:
    env = {**os.environ, "VEIL_SHARED_DATA": str(tmp_path / "no-shared-data")}
    env.pop("VEIL_REQUIRE_SHARED", None)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "tests/test_formats.py",
         "-k", "fixtures_come_out_clean or jpeg_xl_metadata"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "8 skipped" in res.stdout and "needs " in res.stdout and "dirty.jxl" in res.stdout
    collect = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert collect.returncode == 0 and "ERROR" not in collect.stdout, collect.stdout


def test_summary_counts_faces_names_skips_and_where_outputs_went(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    folder = tmp_path / "DIR"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(example_jpeg)
    (folder / "notes.txt").write_text("not a photo")
    (folder / "photo-without-suffix").write_bytes(example_jpeg)
    res = run_veil(folder, "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "DIR.veiled" / "a.jpg").exists()
    said = res.stderr.strip().splitlines()
    assert any("notes.txt: skipped" in line for line in said)
    assert any("photo-without-suffix: skipped" in line for line in said)
    summary = said[-1]
    assert f"1 of 1 file written to {tmp_path / 'DIR.veiled'}{os.sep}" in summary, summary
    assert "3 faces found" in summary and "2 skipped" in summary, summary
    report = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert report["faces"] == 3 and report["masked"] >= 3 and report["skipped"] == 2
    # A plan that keeps one of the faces visible says so, and still counts the face.
    plan_file = tmp_path / "plan.json"
    res = run_veil("detect", folder / "a.jpg", "-o", plan_file)
    assert res.returncode == 0 and f"written to {plan_file}" in res.stderr, res.stderr
    plan = json.loads(plan_file.read_text())
    regions = plan["files"]["a.jpg"]["regions"]
    max(regions, key=lambda r: r["score"])["keep"] = True
    plan_file.write_text(json.dumps(plan))
    res = run_veil(folder / "a.jpg", "-o", tmp_path / "kept.jpg", "--plan-in", plan_file)
    assert res.returncode == 0, res.stderr
    assert "3 faces found" in res.stderr and "1 kept visible" in res.stderr, res.stderr
    assert f"{len(regions) - 1} regions masked" in res.stderr, res.stderr


def test_an_empty_run_fails_with_a_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_veil(empty)
    assert res.returncode == 1 and "nothing to do" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    (empty / "notes.txt").write_text("x")
    res = run_veil(empty)
    assert res.returncode == 1 and "notes.txt: skipped" in res.stderr
    assert "nothing to do" in res.stderr and "(1 skipped)" in res.stderr
    assert not (tmp_path / "empty.veiled").exists()


def test_the_output_name_decides_the_format(tmp_path: Path, example_jpeg: bytes) -> None:
    src = tmp_path / "photo.jpg"
    src.write_bytes(example_jpeg)
    for name, fmt in (("clean.png", "PNG"), ("clean.webp", "WEBP"), ("clean.tif", "TIFF")):
        res = run_veil(src, "-o", tmp_path / name, "-q", "--profile", "fast", "--no-audit")
        assert res.returncode == 0, res.stderr
        assert Image.open(tmp_path / name).format == fmt
    res = run_veil(src, "-o", tmp_path / "x.webp", "--format", "png")
    assert res.returncode == 2 and "names WEBP but --format asks for PNG" in res.stderr
    res = run_veil(src, "-o", tmp_path / "x.mp4")
    assert res.returncode == 2 and "a photo is written as one of" in res.stderr
    assert not (tmp_path / "x.webp").exists() and not (tmp_path / "x.mp4").exists()


def test_a_video_output_name_decides_its_container(tmp_path: Path, example_jpeg: bytes) -> None:
    import av

    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    clip = write_clip(tmp_path / "clip.mp4", sheet, frames=8)
    res = run_veil(clip, "-o", tmp_path / "clean.mkv", "-q")
    assert res.returncode == 0, res.stderr
    with av.open(str(tmp_path / "clean.mkv")) as c:
        assert "matroska" in c.format.name
    res = run_veil(clip, "-o", tmp_path / "clean.avi", "-q")
    assert res.returncode == 2 and "a video is written as one of" in res.stderr
    assert not (tmp_path / "clean.avi").exists()


def test_each_command_has_its_own_help_and_errors_are_one_line() -> None:
    main = run_veil("--help")
    assert main.returncode == 0
    for command in ("anonymize", "detect", "inspect", "serve", "keys", "videos", "DIR.veiled/"):
        assert command in main.stdout, command
    assert "(default ellipse)" in main.stdout and "--shape" in main.stdout
    assert "Reads photos (JPEG, PNG" in main.stdout and "Writes photos as JPEG" in main.stdout
    detect = run_veil("detect", "--help")
    assert detect.returncode == 0 and "mask plan" in detect.stdout
    assert "--mask" not in detect.stdout and "(default balanced)" in detect.stdout
    serve = run_veil("serve", "--help")
    assert serve.returncode == 0 and "(default 8000)" in serve.stdout
    assert "(default ./veil-data)" in run_veil("keys", "--help").stdout
    assert "FILE" in run_veil("inspect", "--help").stdout
    for bad in (["--bogus", "x.jpg"], ["--mask", "nope", "x.jpg"], [], ["detect"],
                ["serve", "--port", "many"]):
        res = run_veil(*bad)
        assert res.returncode == 2, bad
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "--help" in lines[0], (bad, res.stderr)


def test_inspect_shows_names_and_values_and_writes_nothing(tmp_path: Path) -> None:
    pixels = np.full((60, 80, 3), 120, np.uint8)
    src = tmp_path / "tagged.jpg"
    src.write_bytes(tagged_jpeg(pixels))
    before = sorted(tmp_path.iterdir())
    res = run_veil("inspect", src)
    assert res.returncode == 0, res.stderr
    assert "tagged.jpg: JPEG photo, 80x60; veil writes it as JPEG" in res.stdout
    assert "GPS:GPSLatitude: 33.0, 51.0, 54.0" in res.stdout
    assert "BodySerialNumber: SERIAL-778899" in res.stdout and "shot by J. Doe" in res.stdout
    assert sorted(tmp_path.iterdir()) == before
    found = json.loads(run_veil("inspect", "--json", src).stdout)
    assert {"name": "EXIF:Make", "value": "TestCam"} in found[0]["metadata"]
    clean = tmp_path / "clean.jpg"
    assert run_veil(src, "-o", clean, "-q").returncode == 0
    assert "no metadata found" in run_veil("inspect", clean).stdout
    (tmp_path / "notes.txt").write_text("hello")
    res = run_veil("inspect", tmp_path / "notes.txt")
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1


def test_a_folder_of_photos_runs_on_a_pool_with_the_same_result(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"p{i}.jpg").write_bytes(example_jpeg)
    (folder / "bad.jpg").write_bytes(example_jpeg[:2000])
    outputs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        res = run_veil(folder, "-o", out, "--jobs", jobs, "--format", "png",
                       "--report", tmp_path / f"r{jobs}.json")
        assert res.returncode == 1 and "bad.jpg: failed" in res.stderr, res.stderr
        report = json.loads((tmp_path / f"r{jobs}.json").read_text())
        assert [f["input"] for f in report["files"]] == ["bad.jpg", "p0.jpg", "p1.jpg", "p2.jpg"]
        outputs[jobs] = [np.asarray(Image.open(out / f"p{i}.png")) for i in range(3)]
    for one, two in zip(outputs["1"], outputs["2"], strict=True):
        assert (one == two).all()


def test_min_score_covers_only_confident_detections(tmp_path: Path, example_jpeg: bytes) -> None:
    src = tmp_path / "photo.jpg"
    src.write_bytes(example_jpeg)
    counts = {}
    for score in ("0", "0.5"):
        report_file = tmp_path / f"r{score}.json"
        res = run_veil(src, "-o", tmp_path / f"out{score}.png", "--min-score", score,
                       "--report", report_file)
        assert res.returncode == 0, res.stderr
        entry = json.loads(report_file.read_text())["files"][0]
        counts[score] = entry["regions_masked"]
        assert entry["faces_found"] == 3
        assert ("--min-score 0.5" in str(entry["warnings"])) == (score == "0.5")
    assert counts["0.5"] == 3 < counts["0"]  # the faint detections are left uncovered
    res = run_veil(src, "--min-score", "2")
    assert res.returncode == 2 and "--min-score must be a number between 0 and 1" in res.stderr
