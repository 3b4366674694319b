"""A photo that comes out mostly masked (a dense crowd's faint detections add up) says so, in
the report and on the terminal, with what a person can do about it: review the plan."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

import veil
from conftest import run_veil, shared
from veil.report import MOSTLY_MASKED, MOSTLY_MASKED_SHARE


def _plan(tmp_path: Path, photo: Path, regions: list[dict]) -> Path:
    width, height = Image.open(photo).size
    plan = {"version": 1, "files": {photo.name: {
        "media": "image", "width": width, "height": height, "regions": regions}}}
    path = tmp_path / f"plan{len(list(tmp_path.glob('plan*.json')))}.json"
    path.write_text(json.dumps(plan))
    return path


def test_a_mostly_masked_photo_says_so_and_how_to_review_it(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    photo = tmp_path / "crowd.png"
    Image.open(io.BytesIO(example_jpeg)).save(photo)
    width, height = Image.open(photo).size
    big = [0.0, 0.0, 0.8 * width, 0.8 * height]
    faint = _plan(tmp_path, photo, [{"box": big, "score": 0.1, "source": "centerface"}])
    res = run_veil(photo, "-o", tmp_path / "out.png", "--plan-in", faint,
                   "--report", tmp_path / "report.json")
    assert res.returncode == 0, res.stderr
    said = [line for line in res.stderr.splitlines() if MOSTLY_MASKED in line]
    assert len(said) == 1 and "faint" in said[0] and "--plan-in" in said[0], res.stderr
    (entry,) = json.loads((tmp_path / "report.json").read_text())["files"]
    assert entry["masked_share"] > MOSTLY_MASKED_SHARE
    assert any(w.startswith(MOSTLY_MASKED) for w in entry["warnings"])

    res = run_veil(photo, "-o", tmp_path / "quiet.png", "--plan-in", faint, "-q")
    assert res.returncode == 0 and MOSTLY_MASKED not in res.stderr  # -q: nothing but errors

    drawn = _plan(tmp_path, photo, [{"box": big, "source": "person"}])  # as a person meant
    res = run_veil(photo, "-o", tmp_path / "drawn.png", "--plan-in", drawn)
    assert res.returncode == 0 and MOSTLY_MASKED not in res.stderr


def test_the_report_gives_every_photo_its_masked_share(example_jpeg: bytes) -> None:
    result = veil.anonymize_image(example_jpeg)
    share = result.report.masked_share
    assert share is not None and 0.05 < share < MOSTLY_MASKED_SHARE  # three portraits
    assert result.report.mostly_masked() is None


def test_a_dense_crowd_from_the_dev_photos_is_flagged() -> None:
    """A rally (WIDER dev): 2,483 regions, 91% masked; most of them faint."""
    photo = shared("wider-dev/images/8--Election_Campain/"
                   "8_Election_Campain_Election_Campaign_8_412.jpg")
    report = veil.anonymize_image(photo.read_bytes()).report
    line = report.mostly_masked()
    assert report.masked_share is not None and report.masked_share > 0.8
    assert line is not None and "crowd" in line
