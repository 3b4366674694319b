"""Shared fixtures: real photos (the bundled public-domain example, WIDER dev photos)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageDraw, ImageFont

# The shared test data lies beside the clone (../shared/data); a plain clone has none.
# VEIL_SHARED_DATA points elsewhere (a test uses it to see a clone without the data).
SHARED = Path(os.environ.get("VEIL_SHARED_DATA")
              or Path(__file__).resolve().parents[2] / "shared" / "data")
DEV = SHARED / "wider-dev"


def shared(relative: str) -> Path:
    """A file or folder of the shared test data; without it the test skips and says what is
    missing (under .ci/run, which sets VEIL_REQUIRE_SHARED, it fails instead)."""
    path = SHARED / relative
    if not path.exists():
        message = f"needs {SHARED / relative}, the shared test data (not beside this clone)"
        if os.environ.get("VEIL_REQUIRE_SHARED"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def write_clip(path: Path, sheet: np.ndarray, frames: int, fps: int = 25,
               size: tuple[int, int] = (960, 512), sound: bool = False, pan: int = 8,
               keyframe_every: int = 0) -> Path:
    """An H.264 clip panning right across a photo by `pan` pixels a frame (real faces
    moving, made with PyAV; 0: a still camera), with a 440 Hz tone in AAC if asked, and a
    keyframe every `keyframe_every` frames (0: x264's default, 250)."""
    import av

    width, height = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if keyframe_every:
            stream.codec_context.gop_size = keyframe_every
        audio = out.add_stream("aac", rate=44100, layout="mono") if sound else None
        span = max(sheet.shape[1] - width - 40, 1)
        for i in range(frames):
            x = 40 + (i * pan) % span
            view = np.ascontiguousarray(sheet[:height, x:x + width])
            out.mux(stream.encode(av.VideoFrame.from_ndarray(view, format="rgb24")))
        out.mux(stream.encode())
        if audio is not None:
            t = np.arange(int(frames / fps * 44100)) / 44100
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, len(tone), 1024):
                chunk = tone[None, start:start + 1024]
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 44100, start
                out.mux(audio.encode(frame))
            out.mux(audio.encode())
    return path


@pytest.fixture(scope="session")
def example_jpeg() -> bytes:
    """Three real public-domain portraits, tagged with GPS and a camera serial number."""
    from veil.example import example_photo

    return example_photo()


@pytest.fixture(scope="session")
def portraits(example_jpeg: bytes) -> np.ndarray:
    """The example photo's pixels (RGB): three portraits side by side."""
    return np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))


@pytest.fixture(scope="session")
def example_faces(example_jpeg: bytes) -> list[list[float]]:
    """The three portraits' face boxes, as the default detector finds them (geometry only).

    The default profile also masks a few faint false positives (recall first); the
    portraits are the confident ones.
    """
    import veil

    img = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    plan = veil.detect_image(img, veil.load_detector())
    return [[r.x1, r.y1, r.x2, r.y2] for r in plan.regions if r.score > 0.5]


@pytest.fixture(scope="session")
def example_clip(tmp_path_factory: pytest.TempPathFactory, example_jpeg: bytes) -> Path:
    """6 s of the example portraits panning, with a tone: a video any test can use."""
    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    folder = tmp_path_factory.mktemp("example-clip")
    return write_clip(folder / "portraits.mp4", sheet, frames=150, sound=True)


# The `veil` command in a fresh interpreter (`python -c VEIL args...`).
VEIL = "import sys; from veil.cli import main; sys.exit(main(sys.argv[1:]))"


def run_veil(
    *args: str | Path, cwd: Path | None = None, env: dict | None = None, prelude: str = "",
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """Run the real `veil` command in a fresh interpreter (as a user would)."""
    code = prelude + VEIL
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def exiftool_tags(path: Path) -> dict[str, object]:
    """All tags exiftool finds, keyed 'Group:Tag' (family 1 groups)."""
    if shutil.which("exiftool") is None:
        pytest.fail("exiftool is required (Debian: libimage-exiftool-perl); .ci/run installs it")
    out = subprocess.run(
        ["exiftool", "-j", "-a", "-G1", "-s", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)[0]


# exiftool groups (family 1) that only ever hold metadata about a person, device, place or time.
IDENTIFYING_GROUPS = (
    "IFD0",
    "IFD1",
    "ExifIFD",
    "GPS",
    "InteropIFD",
    "XMP",
    "IPTC",
    "MakerNotes",
    "ICC",
    "Photoshop",
    "PrintIM",
    "Ducky",
    "APP",
    "FlashPix",
    "MPF",
    "MPImage",
    "Canon",
    "Nikon",
    "Olympus",
    "Sony",
    "Apple",
    "Samsung",
    "Panasonic",
    "FujiFilm",
    "Pentax",
    "Ricoh",
    "Kodak",
    "Leica",
    "DJI",
    "QuickTime",
    "ItemList",
    "UserData",
    "Keys",
    "Track",
    "Meta",
)
# Tags that carry such metadata inside structural groups (File, PNG, GIF, JFIF...).
IDENTIFYING_TAGS = (
    "Comment",
    "ModifyDate",
    "CreateDate",
    "DateTimeOriginal",
    "Artist",
    "Author",
    "Copyright",
    "Software",
    "Make",
    "Model",
    "SerialNumber",
    "Title",
    "Description",
    "Creator",
    "Location",
    "GPS",
    "Warning",
    "Keywords",
)


# The TIFF layout itself lives in IFD0: these tags say how to read pixels, nothing more.
TIFF_LAYOUT = {
    "ImageWidth",
    "ImageHeight",
    "BitsPerSample",
    "Compression",
    "PhotometricInterpretation",
    "StripOffsets",
    "SamplesPerPixel",
    "RowsPerStrip",
    "StripByteCounts",
    "PlanarConfiguration",
    "XResolution",
    "YResolution",
    "ResolutionUnit",
    "Predictor",
    "ExtraSamples",
    "SampleFormat",
    "SubfileType",
}


def identifying_tags(path: Path) -> list[str]:
    """exiftool tags that can identify a person, device, place or time (names only)."""
    tags = exiftool_tags(path)
    bad = []
    for key in tags:
        group, _, name = key.partition(":")
        if group in ("System", "ExifTool", "Composite", "SourceFile") or not name:
            continue  # the file system's own dates and exiftool's derived values
        # IFD0 is a TIFF's first page, IFD1 its second (each says how to read its pixels)
        if (re.fullmatch(r"IFD\d+", group) and name in TIFF_LAYOUT
                and path.suffix.lower() in (".tif", ".tiff")):
            continue
        if group.startswith(IDENTIFYING_GROUPS) or any(t in name for t in IDENTIFYING_TAGS):
            bad.append(key)
    return bad


def tagged_jpeg(pixels: np.ndarray, orientation: int = 1) -> bytes:
    """A JPEG carrying GPS, make, model, serial number and optionally an orientation."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.Model] = "TC-9"
    exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.BodySerialNumber] = "SERIAL-778899"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "S"
    gps[ExifTags.GPS.GPSLatitude] = (33.0, 51.0, 54.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (151.0, 12.0, 36.0)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=95, exif=exif, comment=b"shot by J. Doe")
    return buf.getvalue()


def covered_share(path: Path, box: list[float], inner: float = 0.6) -> float:
    """Share of the inner part of a face box that is (near) black in an output."""
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    ix1, iy1 = int(x1 + w * (1 - inner) / 2), int(y1 + h * (1 - inner) / 2)
    ix2, iy2 = int(x1 + w * (1 + inner) / 2), int(y1 + h * (1 + inner) / 2)
    region = img[iy1:iy2, ix1:ix2]
    return float((region.max(axis=2) < 40).mean())


PLATE_TEXT, SIGN_TEXT = "KD 482 TX", "Fresh bread baked here every morning"


def street_photo(path: Path) -> tuple[Path, tuple[int, int, int, int], tuple[int, int, int, int]]:
    """A grey street scene with a plate (black on white, in a frame) and a shop sign; returns
    the photo, the plate's box (frame included) and the sign's words' box."""
    image = Image.new("RGB", (900, 600), (120, 125, 130))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=34)
    plate = (300, 420, 520, 470)
    draw.rectangle(plate, fill=(245, 245, 245), outline=(20, 20, 20), width=3)
    draw.text((315, 425), PLATE_TEXT, fill=(10, 10, 10), font=font)
    draw.rectangle((60, 80, 780, 130), fill=(250, 240, 200))
    draw.text((75, 88), SIGN_TEXT, fill=(40, 20, 10), font=font)
    sign = draw.textbbox((75, 88), SIGN_TEXT, font=font)  # the words, not the board
    image.save(path, quality=95)
    return path, plate, (int(sign[0]), int(sign[1]), int(sign[2]), int(sign[3]))
