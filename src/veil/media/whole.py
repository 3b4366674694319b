"""Proof that a photo's data holds every pixel its header declares, checked before the
decoder that veil keeps (Pillow) fills whatever is missing with grey or black.

Pillow decodes a JPEG whose data ends early as if it were complete (libjpeg pads it) and a
PNG whose compressed stream ends early with the missing rows black; a header can also
promise a size far beyond the data (a 689-byte JPEG "of" 100 megapixels). These checks read
the file's structure and refuse such files with an InputError.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from ..errors import InputError, RefusedError

_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7 passes: (x start, y start, x step, y step).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2))
_INFLATE_STEP = 1 << 20


def check_png(data: bytes) -> None:
    """Refuse a PNG whose image data inflates to fewer bytes than its header's rows need.

    The data is inflated in steps and thrown away, never more than the header promises, so
    this costs time in proportion to the image and no memory.
    """
    width, height, depth, colour, interlace = struct.unpack(">IIBBxxB", data[16:29])
    channels = _PNG_CHANNELS.get(colour)
    if channels is None:
        raise InputError(f"corrupt PNG: unknown colour type {colour}")
    bits = depth * channels
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    expected = 0
    for x0, y0, dx, dy in passes:
        cols, rows = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if cols > 0 and rows > 0:
            expected += rows * (1 + (cols * bits + 7) // 8)
    inflated = _inflated_size(_idat(data), expected)
    if inflated < expected:
        raise InputError(
            f"truncated PNG: its data holds {inflated * 100 // max(expected, 1)}% of the "
            f"{width}x{height} pixels its header declares"
        )


def _idat(data: bytes) -> bytes:
    """The concatenated IDAT chunks: the compressed image data."""
    return b"".join(body for kind, body in png_chunks(data) if kind == b"IDAT")


def png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """A PNG's chunks as (type, data), up to IEND; a chunk cut by the end of the file gives
    what it holds."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        yield kind, data[pos + 8 : pos + 8 + length]
        if kind == b"IEND":
            return
        pos += 12 + length  # length, type, data, CRC


def _inflated_size(compressed: bytes, limit: int) -> int:
    """How many bytes `compressed` inflates to, counting no further than `limit`."""
    inflater = zlib.decompressobj()
    total, pending = 0, compressed
    try:
        while pending and total < limit:
            total += len(inflater.decompress(pending, min(_INFLATE_STEP, limit - total)))
            pending = inflater.unconsumed_tail
    except zlib.error as exc:
        raise InputError(f"corrupt PNG: {exc}") from exc
    return total


def check_jpeg(data: bytes, max_scans: int) -> None:
    """Refuse a JPEG with more scans than `max_scans`, or whose entropy-coded data ends
    before every block its frame header declares (libjpeg-turbo, strict, at 1/8 scale)."""
    scans = _count_scans(data)
    if scans > max_scans:
        raise RefusedError(
            f"JPEG has {scans} scans, over the limit of {max_scans} (a real progressive "
            "JPEG has about 10; possible decoding bomb)"
        )
    import simplejpeg

    try:
        simplejpeg.decode_jpeg(data, colorspace="GRAY", min_factor=8, strict=True)
    except ValueError as exc:
        raise InputError(f"corrupt or truncated JPEG: {str(exc).splitlines()[0]}") from exc


def _count_scans(data: bytes) -> int:
    """Start-of-scan markers in the first image of a JPEG (an MPO holds more after it)."""
    scans, pos = 0, 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:  # entropy-coded data: jump to the next 0xFF
            pos = data.find(b"\xff", pos)
            if pos < 0:
                break
            continue
        marker = data[pos + 1]
        if marker == 0xD9:  # end of image
            break
        if marker in (0x00, 0xFF) or 0xD0 <= marker <= 0xD7:  # stuffing, fill, restarts
            pos += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        scans += marker == 0xDA
        pos += 2 + length
    return scans
