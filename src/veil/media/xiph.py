"""Vorbis's comment header: tags that travel inside a stream's codec data.

A Vorbis stream's three headers (identification, comment, setup) are its codec data (a
Matroska track's CodecPrivate, FFmpeg's extradata), and the comment header holds a vendor
string and free tags (`ARTIST=`, `LOCATION=`, a recorder's serial number). Container tags
are dropped elsewhere; these would ride along with the copied sound, so a copy gets an
empty comment header instead. FFmpeg holds the headers Xiph-laced (`02`, two sizes, then
the three) or, from its own Ogg reader, each after a 16-bit big-endian size.
"""

from __future__ import annotations

import struct

COMMENT = b"\x03vorbis"
# vendor "", no comments, the framing bit
EMPTY_COMMENT = COMMENT + struct.pack("<II", 0, 0) + b"\x01"


def _laced(data: bytes) -> list[bytes] | None:
    if len(data) < 3 or data[0] != 2:
        return None
    at, sizes = 1, []
    for _ in range(2):
        size = 0
        while True:
            if at >= len(data):
                return None
            size += data[at]
            at += 1
            if data[at - 1] != 255:
                break
        sizes.append(size)
    first, second = at + sizes[0], at + sizes[0] + sizes[1]
    if second >= len(data):
        return None
    return [data[at:first], data[first:second], data[second:]]


def _sized(data: bytes) -> list[bytes] | None:
    headers, at = [], 0
    for _ in range(3):
        if at + 2 > len(data):
            return None
        size = struct.unpack(">H", data[at:at + 2])[0]
        headers.append(data[at + 2:at + 2 + size])
        at += 2 + size
    return headers if at == len(data) and all(headers) else None


def _headers(extradata: bytes) -> tuple[str, list[bytes]] | None:
    """The layout and the three headers, when they are Vorbis's."""
    for layout, split in (("sized", _sized), ("laced", _laced)):
        headers = split(extradata)
        if headers and headers[0].startswith(b"\x01vorbis") and headers[1].startswith(COMMENT):
            return layout, headers
    return None


def _lace(size: int) -> bytes:
    return b"\xff" * (size // 255) + bytes([size % 255])


def untagged(extradata: bytes) -> bytes | None:
    """Vorbis codec data with an empty comment header; None when it is not laid out as
    FFmpeg holds Vorbis headers (the caller then encodes the sound again)."""
    found = _headers(extradata)
    if found is None:
        return None
    layout, (ident, _, setup) = found
    if layout == "sized":
        return b"".join(struct.pack(">H", len(h)) + h for h in (ident, EMPTY_COMMENT, setup))
    return b"\x02" + _lace(len(ident)) + _lace(len(EMPTY_COMMENT)) + ident + EMPTY_COMMENT + setup


def comments(extradata: bytes) -> list[tuple[str, str]]:
    """(name, value) of the vendor string and each tag of Vorbis codec data (none when it
    holds no readable comment header)."""
    found = _headers(extradata)
    if found is None:
        return []
    body = found[1][1][len(COMMENT):]
    out: list[tuple[str, str]] = []
    try:
        size = struct.unpack("<I", body[:4])[0]
        vendor, at = body[4:4 + size], 4 + size
        if vendor:
            out.append(("vendor", vendor.decode("utf-8", "replace")))
        for _ in range(struct.unpack("<I", body[at:at + 4])[0]):
            size = struct.unpack("<I", body[at + 4:at + 8])[0]
            tag = body[at + 8:at + 8 + size].decode("utf-8", "replace")
            at += 4 + size
            name, _, value = tag.partition("=")
            out.append((name.upper() or "comment", value))
    except struct.error:
        out.append(("comment header", "unreadable"))
    return out
