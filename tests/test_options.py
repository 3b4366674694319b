"""The options and formats tables: one declaration that the CLI, the engine and the stored
service jobs all read, and the allowlist of formats veil opens."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

import veil
from conftest import run_veil
from veil import formats
from veil.options import specs


def test_every_option_in_the_table_is_a_cli_flag_and_in_the_readme() -> None:
    res = run_veil("--help")
    assert res.returncode == 0
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for spec in specs():
        flag = f"--no-{spec.name.replace('_', '-')}" if spec.default is True else spec.flag
        assert flag in res.stdout, flag
        assert flag in readme, f"README does not mention {flag}"


@pytest.mark.parametrize(
    "flat,message",
    [
        ({"mask": "glitter"}, "mask: 'glitter' is not one of solid, mosaic, blur"),
        ({"margin": "9"}, "margin must be a number between 0 and 3"),
        ({"margin": "nan"}, "margin must be a number between 0 and 3"),
        ({"color": "not-a-colour"}, "color: not a colour"),
        ({"format": "bmp"}, "format: 'bmp' is not one of jpg, png, webp"),
        ({"audit": "perhaps"}, "audit: not a valid bool"),
        ({"crf": "2.5"}, "crf: not a valid int"),
        ({"sharpen": "1"}, "unknown option(s): sharpen"),
    ],
)
def test_a_bad_value_is_one_line_from_the_table_and_the_cli(
    tmp_path: Path, example_jpeg: bytes, flat: dict[str, str], message: str
) -> None:
    with pytest.raises(veil.VeilError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        veil.Options.from_flat(flat)
    (name, value), = flat.items()
    if name in {s.name for s in specs()} and name != "audit":  # audit is a switch on the CLI
        src = tmp_path / "p.jpg"
        src.write_bytes(example_jpeg)
        res = run_veil(src, f"--{name.replace('_', '-')}", value, "-q")
        assert res.returncode == 2 and message in res.stderr
        assert not list(tmp_path.glob("*.veiled.*"))


def test_options_survive_the_round_trip_a_stored_job_makes() -> None:
    chosen = veil.Options.from_flat(
        {"mask": "mosaic", "color": "#ff0000", "margin": 0.5, "audit": "false", "format": "png"}
    )
    stored = json.loads(json.dumps(chosen.to_flat()))
    assert veil.Options.from_flat(stored) == chosen
    assert chosen.mask.color == (255, 0, 0) and chosen.detect.audit is False


def test_options_are_checked_when_made_in_python() -> None:
    with pytest.raises(veil.VeilError, match="margin must be a number between 0 and 3"):
        veil.MaskOptions(margin=-1)
    with pytest.raises(veil.VeilError, match="profile: 'quick' is not one of"):
        veil.DetectOptions(profile="quick")


def _ico_named_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buf, "ICO")
    return buf.getvalue()


def test_a_format_outside_the_table_is_refused_whatever_its_name(tmp_path: Path) -> None:
    src = tmp_path / "icon.png"
    src.write_bytes(_ico_named_png())  # Pillow reads ICO; veil's table does not list it
    assert formats.sniff(src.read_bytes()[: formats.HEAD_BYTES]) is None
    res = run_veil(src, "-q")
    assert res.returncode == 1 and "not an image veil can read" in res.stderr
    assert not list(tmp_path.glob("*.veiled.*"))


def test_the_bytes_not_the_name_say_what_a_file_is(tmp_path: Path, example_jpeg: bytes) -> None:
    png = io.BytesIO()
    Image.open(io.BytesIO(example_jpeg)).save(png, "PNG")
    src = tmp_path / "photo.jpg"
    src.write_bytes(png.getvalue())
    res = run_veil(src, "-q")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "photo.veiled.png"  # written as what it is, named so
    assert Image.open(out).format == "PNG"


def test_the_table_covers_every_suffix_and_written_format() -> None:
    for fmt in formats.FORMATS:
        assert formats.by_name(fmt.written_as).save is not None or fmt.kind == "video"
        for suffix in fmt.suffixes:
            assert formats.by_suffix(suffix.upper()) is not None
    assert formats.by_choice("jpg").mime == "image/jpeg"
