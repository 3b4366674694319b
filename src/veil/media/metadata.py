"""Naming the metadata a photo or video carries (tag names only, never values) and checking
outputs.

Used twice: to tell the report what was removed from an input, and to check that an output
veil wrote carries none of it (the output is encoded from pixels, so any hit is a bug).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from PIL import ExifTags, Image

from .. import formats
from ..errors import VeilError
from .pillow import pillow_guarded

# Pillow info keys that are harmless structure, not metadata about a person, place or device.
STRUCTURAL_INFO = {
    "dpi",
    "jfif",
    "jfif_version",
    "jfif_unit",
    "jfif_density",
    "progressive",
    "progression",
    "interlace",
    "gamma",
    "transparency",
    "duration",
    "loop",
    "background",
    "compression",
    "aspect",
    "adobe",
    "adobe_transform",
    "bbox",
    "version",
    "extension",
    "loop_count",
    "srgb",
    "chromaticity",
    "resolution",
    "quality",
    "subsampling",
    "lossless",
    "bit_depth",
    "primary",
    "mode",
    "original_orientation",
    "depth_images",
    "palette",
}
INFO_NAMES = {
    "exif": "EXIF",
    "icc_profile": "ICC profile",
    "xmp": "XMP",
    "XML:com.adobe.xmp": "XMP",
    "photoshop": "Photoshop IRB (IPTC)",
    "iptc": "IPTC",
    "comment": "Comment",
    "dateTime": "Date",
    "thumbnail": "Thumbnail",
}
APP_NAMES = {
    "APP1": "APP1 (EXIF/XMP)",
    "APP2": "APP2 (ICC/FlashPix/MPF)",
    "APP12": "APP12 (Ducky/Picture Info)",
    "APP13": "APP13 (Photoshop/IPTC)",
    "APP14": "APP14 (Adobe)",
    "COM": "JPEG comment",
}
_GPS_TAGS = ExifTags.GPSTAGS
# TIFF tags that describe the pixel layout (size, compression, strips, tiles, colour).
TIFF_STRUCTURE = {
    254,
    256,
    257,
    258,
    259,
    262,
    266,
    273,
    274,
    277,
    278,
    279,
    282,
    283,
    284,
    296,
    317,
    320,
    322,
    323,
    324,
    325,
    338,
    339,
    530,
    531,
    532,
}


def describe_metadata(data: bytes) -> list[str]:
    """Names of the metadata blocks and tags in an image file (no values). Only formats in
    the table are opened, by their own plugin, as decoding does."""
    sniffed = formats.sniff(data[: formats.HEAD_BYTES])
    if sniffed is None or sniffed.kind != "image":
        return []
    try:
        with pillow_guarded(0):
            img = Image.open(io.BytesIO(data), formats=sniffed.pillow)
            return _names(img)
    except Exception:  # noqa: BLE001 - listing is best effort; decoding reports real errors
        return []


def _names(img: Image.Image) -> list[str]:
    names: list[str] = []
    exif = img.getexif()
    for tag in exif:
        if tag in TIFF_STRUCTURE:
            continue
        names.append("EXIF:" + ExifTags.TAGS.get(tag, f"0x{tag:04x}"))
    for ifd_id, label in ((ExifTags.IFD.Exif, "EXIF"), (ExifTags.IFD.Interop, "Interop")):
        try:
            for tag in exif.get_ifd(ifd_id):
                names.append(f"{label}:" + ExifTags.TAGS.get(tag, f"0x{tag:04x}"))
        except (KeyError, ValueError, TypeError):
            pass
    try:
        for tag in exif.get_ifd(ExifTags.IFD.GPSInfo):
            names.append("GPS:" + _GPS_TAGS.get(tag, f"0x{tag:04x}"))
    except (KeyError, ValueError, TypeError):
        pass
    with contextlib.suppress(KeyError, ValueError, TypeError):
        if exif.get_ifd(ExifTags.IFD.IFD1):
            names.append("EXIF:Thumbnail (IFD1)")
    for key in img.info:
        if key in STRUCTURAL_INFO:
            continue
        names.append(INFO_NAMES.get(str(key), f"{img.format}:{key}"))
    for marker, _ in getattr(img, "applist", []):
        if marker in APP_NAMES and APP_NAMES[marker] not in names:
            names.append(APP_NAMES[marker])
    if img.format == "TIFF":
        from PIL.TiffTags import TAGS_V2

        basic = {
            256,
            257,
            258,
            259,
            262,
            273,
            277,
            278,
            279,
            284,
            317,
            338,
            339,
            282,
            283,
            296,
            322,
            323,
            324,
            325,
            320,
            530,
            531,
            532,
        }
        for tag in getattr(img, "tag_v2", {}):
            if tag not in basic and tag not in exif:
                names.append("TIFF:" + (TAGS_V2[tag].name if tag in TAGS_V2 else f"0x{tag:04x}"))
    return sorted(set(names))


def leftover_metadata(data: bytes) -> list[str]:
    """Metadata found in an encoded output; anything here means the output must not be kept."""
    return describe_metadata(data)


def check_output(data: bytes, width: int, height: int) -> None:
    """Re-read an encoded photo: it must parse at the right size and carry no metadata.

    The pixels are not decoded again (that would double the encode cost); the container is
    parsed and, where the format has checksums (PNG), verified.
    """
    leftover = leftover_metadata(data)
    if leftover:
        raise VeilError(f"output check failed: metadata left in output: {', '.join(leftover)}")
    try:
        with pillow_guarded(width * height), Image.open(io.BytesIO(data)) as img:
            size = img.size
            img.verify()
    except Exception as exc:  # noqa: BLE001 - any parse failure means a broken output
        raise VeilError(f"output check failed: output does not parse: {exc}") from exc
    if size != (width, height):
        raise VeilError("output check failed: output size differs from input")


def video_metadata_names(path: Path) -> list[str]:
    """Names (never values) of the container and stream tags and extra streams in a video."""
    import av

    names: list[str] = []
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            names += [f"container:{k}" for k in container.metadata]
            for stream in container.streams:
                names += [f"{stream.type}#{stream.index}:{k}" for k in stream.metadata]
                if stream.type not in ("video", "audio"):
                    names.append(f"{stream.type} stream #{stream.index}")
            chapters = getattr(container, "chapters", None)
            if callable(chapters):  # a method in PyAV 15 and later, a list before
                chapters = chapters()
            if chapters:
                names.append("chapters")
    except Exception:  # noqa: BLE001 - listing is best effort; decoding reports real errors
        pass
    return sorted(set(names))
