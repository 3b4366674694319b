"""JPEG XL's header, read before its decoder runs.

The decoder veil uses (pillow-jxl-plugin, on libjxl) decodes every pixel when the file is
opened, before Pillow or veil can look at the size, and keeps only the last frame of an
animation. So the size and whether the file is an animation are read here, from the
codestream's first bits (ISO/IEC 18181-1, SizeHeader and the start of ImageMetadata),
and a file over the limits, or animated, is refused before any pixel is decoded. The
codestream is the file itself (it starts FF 0A) or, in the ISO container, the payload of
its `jxlc` box or of its first `jxlp` box.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import InputError

CODESTREAM = b"\xff\x0a"
CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
# Widths from a height and SizeHeader's ratio code: 1:1, 12:10, 4:3, 3:2, 16:9, 5:4, 2:1.
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}
# U32 distributions as (bits, offset) for each 2-bit selector.
_SIDE = ((9, 1), (13, 1), (18, 1), (30, 1))
_PREVIEW_DIV8 = ((0, 16), (0, 32), (5, 1), (9, 33))
_PREVIEW = ((6, 1), (8, 65), (10, 321), (12, 1345))
_HEADER_BYTES = 64  # the fields read here fit in far fewer (about 30 at most)


@dataclass(frozen=True)
class JxlHeader:
    width: int
    height: int  # as stored: an orientation of 5 to 8 swaps them on display
    animated: bool


class _Bits:
    """Bits read least significant first, as JPEG XL packs them."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "little")
        self.size = len(data) * 8
        self.pos = 0

    def read(self, count: int) -> int:
        if self.pos + count > self.size:
            raise InputError("not a JPEG XL image veil can read (its header is cut short)")
        bits = (self.value >> self.pos) & ((1 << count) - 1)
        self.pos += count
        return bits

    def u32(self, distribution: tuple[tuple[int, int], ...]) -> int:
        bits, offset = distribution[self.read(2)]
        return self.read(bits) + offset


def read_header(data: bytes) -> JxlHeader:
    """The image size and whether it is animated; InputError when the file's structure
    does not lead to a codestream that starts as JPEG XL's does."""
    bits = _Bits(_codestream(data)[2:_HEADER_BYTES])
    height, width = _size(bits)
    if bits.read(1):  # all_default
        return JxlHeader(width, height, animated=False)
    if not bits.read(1):  # extra_fields: orientation, sizes, preview and animation
        return JxlHeader(width, height, animated=False)
    bits.read(3)  # orientation
    if bits.read(1):  # have_intr_size: the display size, decoded at the coded size
        _size(bits)
    if bits.read(1):  # have_preview
        _preview(bits)
    return JxlHeader(width, height, animated=bool(bits.read(1)))


def _size(bits: _Bits) -> tuple[int, int]:
    """SizeHeader: (height, width)."""
    small = bits.read(1)
    height = (bits.read(5) + 1) * 8 if small else bits.u32(_SIDE)
    ratio = bits.read(3)
    if ratio:
        across, down = _RATIOS[ratio]
        return height, height * across // down
    return height, (bits.read(5) + 1) * 8 if small else bits.u32(_SIDE)


def _preview(bits: _Bits) -> None:
    """PreviewHeader, read past."""
    distribution = _PREVIEW_DIV8 if bits.read(1) else _PREVIEW
    bits.u32(distribution)
    if bits.read(3) == 0:
        bits.u32(distribution)


def _codestream(data: bytes) -> bytes:
    """The start of the codestream: the file, or its container's first codestream box."""
    if data.startswith(CODESTREAM):
        return data
    if not data.startswith(CONTAINER):
        raise InputError("not a JPEG XL image veil can read (no codestream or container)")
    parts: list[bytes] = []
    for kind, body in boxes(data):
        if kind == b"jxlc":
            return _checked(body)
        if kind == b"jxlp":  # a part of the codestream (cjxl makes a first of 6 bytes)
            parts.append(body[4:])  # after its 4-byte index
            if sum(map(len, parts)) >= _HEADER_BYTES:
                break
    if not parts:
        raise InputError("damaged JPEG XL container: it holds no codestream")
    return _checked(b"".join(parts))


def boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The boxes of a JPEG XL container after its signature, as (type, body), up to the
    first that runs past the end of the data; none for a bare codestream."""
    pos = len(CONTAINER) if data.startswith(CONTAINER) else len(data)
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        start = pos + 8
        if size == 1 and pos + 16 <= len(data):  # a 64-bit size follows the type
            size, start = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], pos + 16
        end = len(data) if size == 0 else pos + size
        if end < start or end > len(data):
            return
        yield kind, data[start:end]
        pos = end


def _checked(codestream: bytes) -> bytes:
    if not codestream.startswith(CODESTREAM):
        raise InputError("damaged JPEG XL container: its codestream does not start as one")
    return codestream
