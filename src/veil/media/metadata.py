"""Naming the metadata a photo or video carries (tag names only, never values) and checking
outputs.

Used twice: to tell the report what was removed from an input, and to check that an output
veil wrote carries none of it (the output is encoded from pixels, so any hit is a bug).
"""

from __future__ import annotations

import contextlib
import io
import re
import struct
from collections.abc import Iterator
from pathlib import Path

from PIL import ExifTags, Image

from .. import formats
from ..errors import VeilError
from . import jxl, xiph
from .pillow import pillow_guarded
from .whole import png_chunks

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
    "palette",
    "chroma",
    "icc_profile_type",
    "blend",  # APNG and WebP frame structure
    "disposal",
    "timestamp",
    "default_image",
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
    # HEIF's images beside the picture (pillow-heif): a smaller copy, an iPhone portrait's
    # depth map (the shape of the scene, faces included), an HDR gain map or a matte
    "thumbnails": "Thumbnail",
    "depth_images": "Depth map",
    "aux": "Auxiliary images",
}
APP_NAMES = {
    "APP1": "APP1 (EXIF/XMP)",
    "APP2": "APP2 (ICC/FlashPix/MPF)",
    "APP11": "APP11 (JUMBF: C2PA content credentials)",
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


# EXIF tags that only point at the sub-directories listed on their own (Exif, GPS, Interop).
IFD_POINTERS = {34665, 34853, 40965}


def describe_metadata(data: bytes) -> list[str]:
    """Names of the metadata blocks and tags in an image file (no values). Only formats in
    the table are opened, by their own plugin, as decoding does."""
    return entry_names(metadata_entries(data))


def entry_names(entries: list[tuple[str, str]]) -> list[str]:
    """The names of (name, value) entries, once each, sorted: what a report lists."""
    return sorted({name for name, _ in entries})


def metadata_entries(data: bytes) -> list[tuple[str, str]]:
    """The metadata in an image file as (name, value as short text) pairs, for a person
    looking at their own file (`veil inspect`); reports and the service use names only."""
    sniffed = formats.sniff(data[: formats.HEAD_BYTES])
    if sniffed is None or sniffed.kind != "image":
        return []
    try:
        with pillow_guarded(0):
            img = Image.open(io.BytesIO(data), formats=sniffed.pillow)
    except Exception:  # noqa: BLE001 - listing is best effort; decoding reports real errors
        return []
    return image_entries(img, data, sniffed.name)


def image_entries(img: Image.Image, data: bytes, fmt: str) -> list[tuple[str, str]]:
    """metadata_entries of a file `fmt` (the format table's name) that Pillow has opened
    (or decoded: decoding lists it so, as JPEG XL's plugin decodes on every open). Best
    effort: a tag Pillow cannot parse never fails a photo whose pixels decode."""
    try:
        with pillow_guarded(0):
            entries = _entries(img)
    except Exception:  # noqa: BLE001 - as above
        return []
    if fmt == "JXL":
        entries += _jxl_entries(data)
    if fmt in ("PNG", "WEBP"):
        entries += _chunk_entries(data, fmt)
    if fmt == "JPEG" and (start := _appended_video(data)) is not None:
        entries.append(("Motion photo video", f"({len(data) - start} bytes after the picture)"))
    if fmt == "JPEG" and (more := getattr(img, "n_frames", 1) - 1) > 0:
        # MPF: a stereo camera's second view, a phone's depth map or HDR gain map
        entries.append(("MPF images after the picture", f"({more}: another view, a depth "
                                                        "or gain map)"))
    return entries


# PNG and WebP chunks Pillow reads into the picture or into its info (named above); any
# other is named here, so that what an output drops is said (a C2PA manifest, a time).
_SHOWN_CHUNKS = {
    "PNG": {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT",
            b"bKGD", b"pHYs", b"hIST", b"sPLT", b"acTL", b"fcTL", b"fdAT", b"cICP", b"mDCv",
            b"cLLi", b"iCCP", b"tEXt", b"zTXt", b"iTXt", b"eXIf"},
    "WEBP": {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP", b"EXIF", b"XMP "},
}
CHUNK_NAMES = {b"tIME": "PNG tIME (when the file was last changed)",
               b"caBX": "C2PA content credentials (caBX)", b"C2PA": "C2PA content credentials"}


def _chunk_entries(data: bytes, fmt: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for kind, size in _chunks(data, fmt):
        if kind not in _SHOWN_CHUNKS[fmt]:
            label = kind.decode("latin-1").strip()
            out.append((CHUNK_NAMES.get(kind, f"{fmt} chunk {label}"), f"({size} bytes)"))
    return out


def _chunks(data: bytes, fmt: str) -> Iterator[tuple[bytes, int]]:
    """A PNG's chunks or a WebP's top-level RIFF chunks, as (type, size)."""
    if fmt == "PNG":
        yield from ((kind, len(body)) for kind, body in png_chunks(data))
        return
    pos = 12
    while pos + 8 <= len(data):
        kind, size = struct.unpack("<4sI", data[pos : pos + 8])
        yield kind, size
        pos += 8 + size + size % 2  # padded to an even size


def _appended_video(data: bytes) -> int | None:
    """Where an MP4 or QuickTime file appended to a photo starts, or None: a motion photo
    (Google's, Samsung's) carries the seconds around the shot so, which Pillow does not see.
    Found by its first box (`ftyp`, a small size, a printable brand), a search in C."""
    pos = data.find(b"ftyp", 8)
    while pos != -1:
        size = int.from_bytes(data[pos - 4 : pos], "big")
        if 16 <= size <= 256 and re.fullmatch(rb"[ -~]{4}", data[pos + 4 : pos + 8]):
            return pos - 4
        pos = data.find(b"ftyp", pos + 1)
    return None


# A JPEG XL container's boxes of metadata that its Pillow plugin does not show (it shows the
# EXIF box); the others hold the image (the codestream, a JPEG's reconstruction data).
JXL_BOXES = {b"xml ": "XMP", b"jumb": "JUMBF (C2PA content credentials)",
             b"brob": "Brotli-compressed metadata box"}
_JXL_IMAGE_BOXES = {b"ftyp", b"jxll", b"jxlc", b"jxlp", b"jbrd", b"Exif", b"jxli"}


def _jxl_entries(data: bytes) -> list[tuple[str, str]]:
    return [(JXL_BOXES.get(kind, "JXL box " + kind.decode("latin-1").strip()),
             shown_value(body)) for kind, body in jxl.boxes(data) if kind not in _JXL_IMAGE_BOXES]


def shown_value(value: object, most: int = 100) -> str:
    """A tag's value as one short printable line (binary blocks by their size)."""
    if isinstance(value, bytes):
        text = value.rstrip(b"\0").decode("ascii", "replace")
        if not value or not text.isprintable():
            return f"({len(value)} bytes)"
        value = text
    elif isinstance(value, tuple | list):
        value = ", ".join(shown_value(v, most) for v in value)
    text = "".join(c if c.isprintable() else " " for c in str(value))
    return text if len(text) <= most else text[: most - 1] + "…"


def _exif_entries(img: Image.Image) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    exif = img.getexif()
    out += [("EXIF:" + ExifTags.TAGS.get(tag, f"0x{tag:04x}"), shown_value(value))
            for tag, value in exif.items() if tag not in TIFF_STRUCTURE | IFD_POINTERS]
    ifds = ((ExifTags.IFD.Exif, "EXIF", ExifTags.TAGS), (ExifTags.IFD.Interop, "Interop",
            ExifTags.TAGS), (ExifTags.IFD.GPSInfo, "GPS", _GPS_TAGS))
    for ifd_id, label, names in ifds:
        with contextlib.suppress(KeyError, ValueError, TypeError):
            out += [(f"{label}:" + names.get(tag, f"0x{tag:04x}"), shown_value(value))
                    for tag, value in exif.get_ifd(ifd_id).items()]
    with contextlib.suppress(KeyError, ValueError, TypeError):
        # In a TIFF the next IFD is the next page, which veil decodes and covers.
        if img.format != "TIFF" and exif.get_ifd(ExifTags.IFD.IFD1):
            out.append(("EXIF:Thumbnail (IFD1)", "(a small copy of the photo)"))
    return out


def _entries(img: Image.Image) -> list[tuple[str, str]]:
    out = _exif_entries(img)
    for key, value in img.info.items():
        if (key == "exif" and out) or value is None or value in (b"", "", [], {}, ()):
            continue  # the block whose tags are listed above, or nothing at all
        if key not in STRUCTURAL_INFO:
            out.append((INFO_NAMES.get(str(key), f"{img.format}:{key}"), shown_value(value)))
    names = {name for name, _ in out}
    for marker, body in getattr(img, "applist", []):
        # APP0 is JFIF's structure; any other segment is named (by its number where unknown)
        name = APP_NAMES.get(marker, marker if marker != "APP0" else None)
        if name is not None and name not in names:
            out.append((name, f"({len(body)} bytes)"))
            names.add(name)
    if img.format == "TIFF":
        from PIL.TiffTags import TAGS_V2

        exif = img.getexif()
        for tag, value in getattr(img, "tag_v2", {}).items():
            if tag not in TIFF_STRUCTURE and tag not in exif:
                name = TAGS_V2[tag].name if tag in TAGS_V2 else f"0x{tag:04x}"
                out.append(("TIFF:" + name, shown_value(value)))
    return out


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
    return sorted({name for name, _ in video_metadata_entries(path)})


def video_metadata_entries(path: Path) -> list[tuple[str, str]]:
    """Container and stream tags (name, value), extra streams and chapters in a video."""
    import av

    out: list[tuple[str, str]] = []
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            out += [(f"container:{k}", shown_value(v)) for k, v in container.metadata.items()]
            for stream in container.streams:
                out += [(f"{stream.type}#{stream.index}:{k}", shown_value(v))
                        for k, v in stream.metadata.items()]
                if getattr(stream.codec_context, "name", None) == "vorbis":
                    out += [(f"audio#{stream.index}:vorbis:{k}", shown_value(v)) for k, v in
                            xiph.comments(bytes(stream.codec_context.extradata or b""))]
                if stream.type not in ("video", "audio"):
                    codec = getattr(stream.codec_context, "name", None) or "unknown codec"
                    out.append((f"{stream.type} stream #{stream.index}", codec))
            chapters = getattr(container, "chapters", None)
            if callable(chapters):  # a method in PyAV 15 and later, a list before
                chapters = chapters()
            if chapters:
                out.append(("chapters", str(len(chapters))))
    except Exception:  # noqa: BLE001 - listing is best effort; decoding reports real errors
        pass
    return out
