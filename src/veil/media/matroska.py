"""What a Matroska (MKV, WebM) file's own structure says about it: where it ends and how many
frames each track's blocks hold.

FFmpeg's Matroska demuxer skips what it cannot parse and reads on from the next element it
recognises, so a file damaged inside a cluster plays with frames missing and no error: the
hostile corpus wrote 54 of 500 mutated MKV clips with 1 to 5 of their 6 frames gone. MP4 and
AVI declare their frame counts in their headers; a Matroska file declares its frames only
through its blocks. This walk reads every element header (never the frames' data), refuses a
structure that breaks, and counts the blocks, so that the decoder can be held to them.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import InputError

EBML = 0x1A45DFA3
SEGMENT = 0x18538067
TRACKS = 0x1654AE6B
TRACK_ENTRY = 0xAE
TRACK_NUMBER = 0xD7
CLUSTER = 0x1F43B675
BLOCK_GROUP = 0xA0
SIMPLE_BLOCK = 0xA3
BLOCK = 0xA1
VOID, CRC32 = 0xEC, 0xBF
# What a Cluster may hold (Matroska v4): an unknown-size cluster ends at the first element
# that is not one of these, which must then be one a Segment holds (a damaged ID is not).
CLUSTER_CHILDREN = frozenset(
    {0xE7, 0x5854, 0xA7, 0xAB, SIMPLE_BLOCK, BLOCK_GROUP, 0xAF, VOID, CRC32}
)
SEGMENT_CHILDREN = frozenset(
    {0x114D9B74, 0x1549A966, TRACKS, CLUSTER, 0x1C53BB6B, 0x1941A469, 0x1043A770, 0x1254C367,
     VOID, CRC32}
)
UNKNOWN = -1  # an element size of all ones: it runs until its parent's next element


@dataclass
class Layout:
    """The structure of one Matroska file, as its elements declare it."""

    end: int | None = None  # where the Segment ends; None when its size is left unknown
    order: list[int] = field(default_factory=list)  # the track numbers, as declared
    frames: dict[int, int] = field(default_factory=dict)  # frames in each track's blocks


class _Broken(Exception):
    """The structure breaks at byte `at` (`cut`: an element there runs past the file's end)."""

    def __init__(self, at: int, cut: bool = False) -> None:
        super().__init__(at)
        self.at = at
        self.cut = cut


def read_layout(path: Path) -> Layout:
    """The file's layout; InputError when its structure breaks inside the Segment (a cut or
    damaged file) or a block names a track the file does not declare."""
    stat = path.stat()
    return _cached_layout(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=8)
def _cached_layout(path: str, size: int, mtime_ns: int) -> Layout:
    """One walk per file version in a process: a video is opened once for each pass and
    part."""
    del mtime_ns  # part of the key only
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        walk = _Walk(memoryview(data), size)
        try:
            layout = walk.file()
        except _Broken as broken:
            raise _refusal(walk.layout.end, size, broken) from None
        finally:
            walk.data.release()
    strangers = sorted(set(layout.frames) - set(layout.order))
    if strangers:
        raise InputError(f"video file is damaged: a block belongs to track {strangers[0]}, "
                         "which the file does not declare")
    return layout


def _refusal(end: int | None, size: int, broken: _Broken) -> InputError:
    """Why a walk that broke refuses the file: its Segment declares more than the file
    holds (cut), or an element runs past the end (cut or damaged), or past its parent."""
    if end is not None and end > size:
        return InputError(f"video file is cut short: its container declares {end} bytes, "
                          f"the file has {size}")
    if broken.cut:
        return InputError(f"video file is damaged or cut short: an element at byte "
                          f"{broken.at} runs past the end of the file")
    return InputError(f"video file is damaged: its Matroska structure breaks at byte "
                      f"{broken.at}")


class _Walk:
    """Element by element over the file's bytes; each step knows where its parent ends."""

    def __init__(self, data: memoryview, size: int) -> None:
        self.data = data
        self.size = size
        self.layout = Layout()

    def vint(self, pos: int, limit: int, marker: bool) -> tuple[int, int]:
        """An EBML variable-length integer at `pos` (an ID keeps its length marker; a size
        of all ones is UNKNOWN), and where it ends."""
        if pos >= limit:
            raise _Broken(pos)
        first = self.data[pos]
        length = 9 - first.bit_length()
        if not 1 <= length <= (4 if marker else 8) or pos + length > limit:
            raise _Broken(pos)
        value = int.from_bytes(self.data[pos : pos + length], "big")
        if marker:
            return value, pos + length
        value &= (1 << (7 * length)) - 1
        return (UNKNOWN if value == (1 << (7 * length)) - 1 else value), pos + length

    def element(self, pos: int, limit: int) -> tuple[int, int, int]:
        """The element at `pos`: its ID, where its data starts, and where it ends (UNKNOWN
        when its size is)."""
        ident, start = self.vint(pos, limit, True)
        size, start = self.vint(start, limit, False)
        if size == UNKNOWN:
            return ident, start, UNKNOWN
        if start + size > limit:
            raise _Broken(pos, cut=limit == self.size)
        return ident, start, start + size

    def file(self) -> Layout:
        ident, start, end = self.element(0, self.size)
        if ident != EBML or end == UNKNOWN:
            raise _Broken(0)
        ident, start = self.vint(end, self.size, True)
        if ident != SEGMENT:
            raise _Broken(end)
        size, start = self.vint(start, self.size, False)  # may run past a cut file's end
        if size != UNKNOWN:
            self.layout.end = start + size
        self.segment(start, self.size if size == UNKNOWN else min(start + size, self.size))
        if size != UNKNOWN and start + size > self.size:
            raise _Broken(start + size, cut=True)  # a cut that fell between two elements
        return self.layout

    def segment(self, pos: int, limit: int) -> None:
        while pos < limit:
            ident, start, end = self.element(pos, limit)
            if ident == CLUSTER:
                end = self.cluster(start, limit if end == UNKNOWN else end, end == UNKNOWN)
            elif end == UNKNOWN:
                raise _Broken(pos)
            elif ident == TRACKS:
                self.track_entries(start, end)
            pos = end

    def cluster(self, pos: int, limit: int, open_ended: bool) -> int:
        """Where the cluster ends, its blocks counted."""
        while pos < limit:
            ident, start, end = self.element(pos, limit)
            if open_ended and ident not in CLUSTER_CHILDREN:
                if ident not in SEGMENT_CHILDREN:
                    raise _Broken(pos)
                return pos
            if end == UNKNOWN:
                raise _Broken(pos)
            if ident == SIMPLE_BLOCK:
                self.block(start, end)
            elif ident == BLOCK_GROUP:
                self.block_group(start, end)
            pos = end
        return pos

    def children(self, pos: int, limit: int) -> Iterator[tuple[int, int, int]]:
        """The elements from `pos` to `limit` (a parent's data), each of a known size."""
        while pos < limit:
            ident, start, end = self.element(pos, limit)
            if end == UNKNOWN:
                raise _Broken(pos)
            yield ident, start, end
            pos = end

    def block_group(self, pos: int, limit: int) -> None:
        for ident, start, end in self.children(pos, limit):
            if ident == BLOCK:
                self.block(start, end)

    def block(self, pos: int, limit: int) -> None:
        """Count a block's frames: one, or its lace count (flags bits 1-2 set)."""
        track, head = self.vint(pos, limit, False)
        if head + 3 > limit:  # a 16-bit timestamp and the flags
            raise _Broken(pos)
        laced = self.data[head + 2] & 0x06
        if laced and head + 4 > limit:
            raise _Broken(pos)
        frames = self.data[head + 3] + 1 if laced else 1
        self.layout.frames[track] = self.layout.frames.get(track, 0) + frames

    def track_entries(self, pos: int, limit: int) -> None:
        for ident, start, end in self.children(pos, limit):
            if ident == TRACK_ENTRY:
                number = self.track_number(start, end)
                if number not in self.layout.order:
                    self.layout.order.append(number)

    def track_number(self, pos: int, limit: int) -> int:
        number = 0
        for ident, start, end in self.children(pos, limit):
            if ident == TRACK_NUMBER:
                number = int.from_bytes(self.data[start:end], "big")
        return number
