"""The bundled example: public-domain portraits that installed packages ship, side by side.

Eileen Collins (NASA, public domain) and "cameraman" (CC0) come with scikit-image; Grace
Hopper (US Navy, public domain) comes with matplotlib. veil tags the composite with a GPS
position and a camera serial number so that a run shows metadata removal as well.
"""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

from PIL import ExifTags, Image

from .errors import SetupError

SOURCES = (
    ("skimage", "data/astronaut.png"),
    ("skimage", "data/camera.png"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
)
HEIGHT = 512


def example_photo() -> bytes:
    """A JPEG of the example portraits, carrying EXIF GPS, make, model and serial number."""
    tiles = []
    for package, rel in SOURCES:
        try:
            raw = resources.files(package).joinpath(rel).read_bytes()
        except (ModuleNotFoundError, FileNotFoundError, OSError):
            continue
        tile = Image.open(io.BytesIO(raw)).convert("RGB")
        tiles.append(tile.resize((round(tile.width * HEIGHT / tile.height), HEIGHT)))
    if not tiles:
        raise SetupError(
            "the example photos come from scikit-image and matplotlib: pip install 'veil[example]'"
        )
    sheet = Image.new("RGB", (sum(t.width for t in tiles), HEIGHT))
    x = 0
    for tile in tiles:
        sheet.paste(tile, (x, 0))
        x += tile.width
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "ExampleCam"
    exif[ExifTags.Base.Model] = "EX-1"
    exif[ExifTags.Base.Artist] = "A. Photographer"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.BodySerialNumber] = "SN-0012345"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 36.0)
    buf = io.BytesIO()
    sheet.save(buf, "JPEG", quality=92, exif=exif)
    return buf.getvalue()


def write_example(folder: Path) -> Path:
    """Write the example photo into `folder` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "example.jpg"
    path.write_bytes(example_photo())
    return path
