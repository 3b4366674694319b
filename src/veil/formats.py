"""The one table of formats veil reads and writes, and the allowlist of what it opens.

A row says how to recognise a format from its first bytes, its file suffixes and MIME type,
what an output made from it is written as, and, for the formats veil writes, the encoder
arguments. Sniffing, suffix and MIME lookups, the output format and the list of accepted
formats all read this table; a file whose bytes match no row is refused, whatever its name.
Adding a format is one row (docs/architecture.md has a worked example).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["image", "video"]

# How many leading bytes sniffing looks at.
HEAD_BYTES = 64


@dataclass(frozen=True)
class Format:
    """One format: how to recognise it, name it, open it and (photos) write it."""

    name: str  # Pillow's name for photos ("JPEG"), the container's for videos ("MP4")
    kind: Kind
    suffixes: tuple[str, ...]  # lower case, with the dot; the first is what veil writes
    mime: str
    magic: bytes  # a regular expression matched at the start of the file's first bytes
    written_as: str  # the format an output made from this input is written as
    # Photos: the Pillow plugins allowed to open it. Videos: the FFmpeg demuxer and muxer.
    pillow: tuple[str, ...] = ()
    demuxer: str | None = None
    muxer: str | None = None
    # Formats veil writes: Pillow's save arguments, and the name a user asks for with --format.
    save: dict[str, Any] | None = field(default=None, hash=False)
    choice: str | None = None
    # Videos veil writes: the audio codecs its muxer takes as they are (None: any); other
    # audio is re-encoded to AAC.
    audio_copy: tuple[str, ...] | None = None
    # Images: Pillow writes several frames (an animation, or pages) in this format.
    frames: bool = False

    @property
    def suffix(self) -> str:
        """The suffix veil gives a file written in this format."""
        return self.suffixes[0]

    def matches(self, head: bytes) -> bool:
        return re.match(self.magic, head, re.DOTALL) is not None


_HEIF_BRANDS = rb"heic|heix|heim|heis|hevc|hevx|mif1|msf1"

# Order matters where one format's signature is a prefix of another's: the ISO base media
# rows (HEIF, AVIF, MOV) come before MP4, which takes any other brand; WebM before MKV.

# The sound QuickTime's muxer writes as it is; any other (Opus, FLAC, Vorbis) is encoded
# again to AAC, as for MP4 (the muxer refused them, and the error blamed the input).
_MOV_AUDIO = ("aac", "mp3", "mp2", "alac", "ac3", "eac3", "adpcm_ima_qt", "pcm_u8", "pcm_s8",
              "pcm_alaw", "pcm_mulaw", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be",
              "pcm_s32le", "pcm_s32be", "pcm_f32le", "pcm_f32be", "pcm_f64le", "pcm_f64be")

FORMATS: tuple[Format, ...] = (
    Format(
        "JPEG", "image", (".jpg", ".jpeg", ".jpe"), "image/jpeg", rb"\xff\xd8\xff", "JPEG",
        pillow=("JPEG",),  # Pillow opens MPO (a JPEG with depth maps or bursts) as JPEG
        save={"quality": 92, "optimize": False}, choice="jpg",
    ),
    Format(
        "PNG", "image", (".png",), "image/png", rb"\x89PNG\r\n\x1a\n", "PNG",
        pillow=("PNG",),
        # Level 1: a third of level 6's time for about 6% more bytes (bench/recall.py).
        save={"compress_level": 1}, choice="png", frames=True,  # APNG
    ),
    Format(
        "WEBP", "image", (".webp",), "image/webp", rb"RIFF....WEBP", "WEBP",
        pillow=("WEBP",), save={"quality": 90, "method": 4}, choice="webp", frames=True,
    ),
    Format(
        "TIFF", "image", (".tif", ".tiff"), "image/tiff", rb"II\*\x00|MM\x00\*", "TIFF",
        pillow=("TIFF",), save={"compression": "tiff_deflate"}, choice="tiff", frames=True,
    ),
    Format(
        "HEIF", "image", (".heic", ".heif", ".hif"), "image/heic",
        rb"....ftyp(" + _HEIF_BRANDS + rb")", "JPEG", pillow=("HEIF",),
    ),
    Format(
        "AVIF", "image", (".avif",), "image/avif", rb"....ftyp(avif|avis)", "JPEG",
        pillow=("AVIF", "HEIF"),
    ),
    Format(
        "JXL", "image", (".jxl",), "image/jxl",
        rb"\xff\x0a|\x00\x00\x00\x0cJXL \r\n\x87\n",  # bare codestream, or the ISO container
        "JPEG", pillow=("JXL",),
    ),
    # One frame is written as PNG (no palette loss); an animation stays GIF.
    Format("GIF", "image", (".gif",), "image/gif", rb"GIF8[79]a", "PNG", pillow=("GIF",),
           save={"optimize": False}, choice="gif", frames=True),
    Format("BMP", "image", (".bmp",), "image/bmp", rb"BM.{12}", "PNG", pillow=("BMP",)),
    Format(
        "AVI", "video", (".avi",), "video/x-msvideo", rb"RIFF....AVI ", "MP4", demuxer="avi"
    ),
    # Old QuickTime files start with a bare atom instead of an ftyp box.
    Format(
        "MOV", "video", (".mov",), "video/quicktime", rb"....(ftypqt  |moov|mdat|wide|free)",
        "MP4", demuxer="mov", muxer="mov", audio_copy=_MOV_AUDIO,
    ),
    Format(
        "MP4", "video", (".mp4", ".m4v"), "video/mp4", rb"....ftyp", "MP4",
        demuxer="mov", muxer="mp4", audio_copy=("aac", "mp3", "alac", "ac3", "eac3", "opus"),
    ),
    # Not written: WebM holds only VP8/VP9/AV1 video, and veil encodes H.264.
    Format(
        "WEBM", "video", (".webm",), "video/webm", rb"\x1a\x45\xdf\xa3.*webm", "MP4",
        demuxer="matroska",
    ),
    Format(
        "MKV", "video", (".mkv",), "video/x-matroska", rb"\x1a\x45\xdf\xa3", "MP4",
        demuxer="matroska", muxer="matroska",
    ),
)

_BY_NAME = {f.name: f for f in FORMATS}
_BY_CHOICE = {f.choice: f for f in FORMATS if f.choice}
# The first row that lists a suffix owns it (.mp4 and .m4v are MP4, not MOV).
_BY_SUFFIX: dict[str, Format] = {}
for _f in FORMATS:
    for _s in _f.suffixes:
        _BY_SUFFIX.setdefault(_s, _f)

PHOTO_SUFFIXES = frozenset(s for f in FORMATS if f.kind == "image" for s in f.suffixes)
VIDEO_SUFFIXES = frozenset(s for f in FORMATS if f.kind == "video" for s in f.suffixes)
# What a user may ask an output to be written as (--format).
OUTPUT_CHOICES = tuple(_BY_CHOICE)


def sniff(head: bytes) -> Format | None:
    """The format of a file from its first HEAD_BYTES bytes, or None when veil does not read it."""
    return next((f for f in FORMATS if f.matches(head)), None)


def by_name(name: str) -> Format:
    """The row for a format name ("JPEG", "MP4"); KeyError when there is none."""
    return _BY_NAME[name]


def by_suffix(suffix: str) -> Format | None:
    """The format a file suffix (".jpeg") names, or None."""
    return _BY_SUFFIX.get(suffix.lower())


def by_choice(choice: str) -> Format:
    """The output format a user asked for (--format jpg); KeyError when there is none."""
    return _BY_CHOICE[choice.lower()]


def writable(kind: str) -> list[Format]:
    """The formats veil writes photos (kind "image") or videos ("video") as."""
    if kind == "image":
        return [f for f in FORMATS if f.choice]
    return [f for f in FORMATS if f.kind == "video" and f.muxer]


def accepted() -> str:
    """The accepted formats in words, for error messages and help."""
    photos = ", ".join(f.name for f in FORMATS if f.kind == "image")
    videos = ", ".join(f.name for f in FORMATS if f.kind == "video")
    return f"photos ({photos}) and videos ({videos})"
