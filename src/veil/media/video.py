"""Video in and out through PyAV (FFmpeg): upright frames with their timestamps, and an
encoder that writes only video and audio streams, with no container or stream tags.

Nothing here knows about faces: the caller passes a painter that says, for each frame, which
rectangles it changes and paints them. Only those rectangles are converted to RGB and back: the
rest of each frame goes to the encoder as it was decoded (no colour conversion at all where the
source is 8-bit 4:2:0 video, as nearly all H.264 and HEVC is).
"""

from __future__ import annotations

import heapq
import os
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import formats
from ..errors import InputError, PartsDoNotJoin, RefusedError, VeilError
from ..options import EncodeOptions, Limits
from . import matroska, xiph
from .encoders import encoder_settings, error_words
from .files import atomic_output, check_regular

# A rectangle of an upright frame in pixels: x1, y1, x2, y2 (x2 and y2 not included).
Box = tuple[int, int, int, int]
# Paints, in place, onto an RGB image that holds part of a frame whose top-left pixel is at
# `origin` (x, y) of the frame; it changes nothing outside the box it came with.
Paint = Callable[[np.ndarray, tuple[int, int]], object]
# What to paint on frame `index` (counted from the first decoded frame): the boxes it
# changes, each with what paints it, painted in order.
Painter = Callable[[int], list[tuple[Box, Paint]]]

# Where the boxes of one frame cover more than this share of it, the whole frame is converted
# once rather than box by box.
WHOLE_FRAME_SHARE = 0.3


@dataclass
class VideoInfo:
    """What a player needs to know about a video, and nothing else."""

    width: int  # upright (after rotation)
    height: int
    frames: int  # as the container declares it; 0 when unknown
    rotation: int
    codec: str
    dropped_streams: list[str]  # subtitle, data, attachment streams, and audio of no codec
    # FFmpeg knows: never written


def _open(path: Path) -> Any:
    """Open a video with the demuxer of the format its bytes match (never by its name)."""
    import av

    check_regular(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(formats.HEAD_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from exc
    sniffed = formats.sniff(head)
    if sniffed is None or sniffed.kind != "video":
        raise InputError(f"not a video veil can read: it takes {formats.accepted()}")
    _check_container_size(path, sniffed)
    try:
        return av.open(str(path), format=sniffed.demuxer, metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001 - a demuxer that cannot open it: the file's fault
        raise InputError(f"not a video veil can read: {_reason(exc)}") from exc


def _check_container_size(path: Path, fmt: formats.Format) -> None:
    """Refuse a file shorter than its container's own size fields say (a cut file): each
    top-level MP4/MOV box, the first RIFF chunk of an AVI, and every element of a Matroska
    file (which also refuses a Matroska structure that breaks: see matroska.py). Where a
    size is left unknown (a live recording), nothing is claimed."""
    if fmt.demuxer == "matroska":
        matroska.read_layout(path)
        return
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if fmt.demuxer == "avi":
            fh.seek(4)
            declared: int | None = 8 + int.from_bytes(fh.read(4), "little")
        else:
            declared = _boxes_end(fh, size)
    if declared is not None and declared > size:
        raise InputError(
            f"video file is cut short: its container declares {declared} bytes, the file has "
            f"{size}"
        )


def _boxes_end(fh: Any, size: int) -> int | None:
    """Where the last top-level ISO box ends, by the sizes the boxes declare."""
    pos = 0
    while pos < size:
        fh.seek(pos)
        head = fh.read(16)
        if len(head) < 8:
            return pos + 8
        length = int.from_bytes(head[:4], "big")
        if length == 1 and len(head) == 16:
            length = int.from_bytes(head[8:16], "big")
        elif length == 0:  # the last box runs to the end of the file
            return None
        if length < 8:
            return None  # not a box structure veil can follow: let the demuxer judge
        pos += length
    return pos


def _reason(exc: BaseException) -> str:
    """One line saying why FFmpeg failed, without the file's path (a server's, maybe)."""
    text = error_words(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def _reading(what: str | Callable[[], str]) -> Iterator[None]:
    """Whatever FFmpeg or PyAV raise while reading a file is that file's fault: InputError,
    saying `what` (or what it returns, then: where the reading had got to)."""
    try:
        yield
    except (VeilError, _RenderFailed, _WriteFailed, _SeekMissed):
        raise
    except MemoryError as exc:
        raise InputError(f"{what if isinstance(what, str) else what()}: not enough memory"
                         ) from exc
    except Exception as exc:  # noqa: BLE001 - see above
        raise InputError(f"{what if isinstance(what, str) else what()}: {_reason(exc)}"
                         ) from exc


def _check_size(width: int, height: int, limits: Limits) -> None:
    if not width or not height or width < 0 or height < 0:
        raise InputError("video stream declares no frame size")
    if width * height > limits.max_frame_pixels:
        raise RefusedError(
            f"video frames are {width}x{height} ({width * height / 1e6:.0f} MP), over the "
            f"{limits.max_frame_megapixels:g} MP limit"
        )


def probe_video(path: Path, limits: Limits | None = None) -> VideoInfo:
    """Stream layout of a video file, checked against `limits` before any frame is decoded;
    raises InputError when there is no video stream or the file cannot be read."""
    limits = limits or Limits()
    with _open(path) as container, _reading("video cannot be read"):
        if not container.streams.video:
            raise InputError("no video stream")
        video = container.streams.video[0]
        ctx = video.codec_context
        _check_size(ctx.width, ctx.height, limits)
        frames = int(video.frames or 0)
        if frames > limits.max_frames:
            raise RefusedError(f"video has {frames} frames, over the limit of {limits.max_frames}")
        rotation = _first_rotation(container)
        width, height = ctx.width, ctx.height
        if rotation in (90, 270):
            width, height = height, width
        dropped = [
            f"{s.type}:{getattr(s.codec_context, 'name', None) or s.type}"
            for s in container.streams
            if s.type not in ("video", "audio")
        ] + [f"video:{s.index}" for s in container.streams.video[1:]] + [
            f"audio:{s.index} (a codec FFmpeg does not know)"
            for s in container.streams.audio if s.codec_context is None
        ]
        return VideoInfo(width, height, frames, rotation, ctx.name, dropped)


def _first_rotation(container: Any) -> int:
    """Clockwise rotation a player applies (0, 90, 180, 270), from the display matrix.

    PyAV exposes it on decoded frames, so the first frame is decoded to read it (the caller
    has checked the frame size).
    """
    import av

    try:
        frame = next(container.decode(video=0))
    except (StopIteration, av.error.FFmpegError):
        return 0
    return _frame_rotation(frame)


def _upright(frame: Any, rotation: int) -> np.ndarray:
    """The frame as RGB, turned as a player shows it."""
    size = (frame.height, frame.width) if rotation in (90, 270) else (frame.width, frame.height)
    planes = _yuv420(frame, rotation, *size) if frame.colorspace in _BT601 else None
    if planes is not None:
        # OpenCV (BT.601 only, as FFmpeg for an untagged frame) converts across cores and
        # releases the GIL; PyAV's rgb24 took 2.8 ms a 1080p frame to OpenCV's 0.8, on the
        # decoding thread a video's detection waits on
        return cv2.cvtColor(planes, cv2.COLOR_YUV2RGB_I420)
    arr = frame.to_ndarray(format="rgb24")
    if rotation == 90:
        return np.ascontiguousarray(np.rot90(arr, k=-1))
    if rotation == 180:
        return np.ascontiguousarray(arr[::-1, ::-1])
    if rotation == 270:
        return np.ascontiguousarray(np.rot90(arr, k=1))
    return arr


class _Whole:
    """Checks, frame by frame and at the end, that a video stream was read whole: no packet
    the demuxer flags as damaged, no frame over the limits, no fewer frames (or seconds)
    than the container declares, and (Matroska) every block demuxed, of the video and of
    the `audio` streams demuxed with it.

    Two kinds of frame a header counts give no picture in any player, and are not missing:
    an AVI's empty chunks (a frame dropped while capturing: the demuxer skips them, its
    timestamps step over them) and the leading pictures of an open GOP that a cut made the
    first (they refer to frames before the cut; the decoder drops them, and they would
    have been shown before the first frame it gives, whose packet they follow)."""

    def __init__(self, stream: Any, limits: Limits, audio: Iterable[Any] = ()) -> None:
        self.limits = limits
        self.index = stream.index
        self.declared_frames = int(stream.frames or 0)
        self.chunks = stream.container.format.name == "avi"  # counts its empty chunks
        self.blocks = _Blocks(stream.container, [stream, *audio])  # demuxed with it
        base = stream.time_base or Fraction(1, 1_000_000)
        if stream.duration:
            self.declared_end = float(stream.duration * base)
            if stream.start_time:
                self.declared_end += float(stream.start_time * base)
        else:  # Matroska declares the whole file's duration only
            self.declared_end = (stream.container.duration or 0) / 1_000_000
        rate = stream.average_rate or stream.guessed_rate
        self.frame_seconds = float(1 / rate) if rate else 0.0
        self.frames = 0
        self.end = 0.0
        self.packets = 0  # video packets with data, after any seek
        self.sought_past = 0  # frames a seek went past, one packet each
        self.packet_times: array[int] = array("q")  # each video packet's pts
        self.last_chunk = -1  # AVI: the highest chunk number read (its dts)
        self.first_shown: int | None = None  # the lowest pts of a decoded frame

    def skipped(self, frames: int) -> None:
        """A seek went past the first `frames` frames: one packet each (it lands on a
        keyframe that closes its past)."""
        self.frames = self.sought_past = frames
        self.blocks.skipped(frames)

    def packet(self, packet: Any) -> None:
        if packet.is_corrupt:
            raise InputError(f"video data is damaged or cut short after frame {self.frames}")
        self.blocks.packet(packet)
        if packet.stream_index == self.index and packet.size:
            self.packets += 1
            if packet.pts is not None:
                self.packet_times.append(packet.pts)
            if packet.dts is not None:
                self.last_chunk = max(self.last_chunk, packet.dts)

    def frame(self, frame: Any) -> None:
        self.frames += 1
        if self.frames > self.limits.max_frames:
            raise RefusedError(f"video has more than {self.limits.max_frames} frames (the limit)")
        _check_size(frame.width, frame.height, self.limits)
        if frame.time is not None:
            self.end = max(self.end, float(frame.time) + self.frame_seconds)
        if frame.pts is not None and (self.first_shown is None or frame.pts < self.first_shown):
            self.first_shown = frame.pts

    def finish(self) -> None:
        if self.declared_frames and self.frames < self.declared_frames:
            accounted = self.frames + self._unseen()
            if accounted < self.declared_frames:
                raise InputError(f"video is cut short: {accounted} of the "
                                 f"{self.declared_frames} frames its header declares")
        self.blocks.finish()
        # Where only a duration is declared (Matroska): a second or 5% may go to audio that
        # runs past the last frame; more missing means the file was cut.
        missing = self.declared_end - self.end
        if self.end and missing > max(1.0, 0.05 * self.declared_end):
            raise InputError(
                f"video is cut short: {self.end:.1f} s of the {self.declared_end:.1f} s its "
                "header declares"
            )

    def _unseen(self) -> int:
        """Frames the header counts that no player shows: leading pictures the decoder
        dropped and (AVI) empty chunks."""
        leading = 0
        if self.first_shown is not None and self.first_shown in self.packet_times:
            # after the first shown frame's packet in decoding order: before it, a dropped
            # packet is a damaged start, not a leading picture
            after = self.packet_times.index(self.first_shown) + 1
            leading = sum(1 for t in self.packet_times[after:] if t < self.first_shown)
        empty = 0
        if self.chunks and self.last_chunk >= 0:  # chunks numbered from 0, empty ones too
            empty = max(0, self.last_chunk + 1 - self.sought_past - self.packets)
        return leading + empty


class _Blocks:
    """Holds the packets demuxed from a Matroska file, stream by stream, to the frames its
    blocks hold (see matroska.py): its demuxer loses what it reads past without an error.
    Nothing is claimed for another container, or where FFmpeg's streams cannot be matched
    to the file's tracks (it skipped one)."""

    def __init__(self, container: Any, streams: list[Any]) -> None:
        declared: dict[int, int] = {}
        if streams and container.format.name.split(",")[0] == "matroska":
            layout = matroska.read_layout(Path(container.name))
            tracks = [s.index for s in container.streams if s.type != "attachment"]
            if len(tracks) == len(layout.order):  # FFmpeg makes them in the file's order
                number = dict(zip(tracks, layout.order, strict=True))
                declared = {s.index: layout.frames.get(number[s.index], 0) for s in streams}
        self.declared = declared
        self.counted = dict.fromkeys(declared, 0)
        self.first = streams[0].index if streams else None
        self.kinds = {s.index: s.type for s in streams}

    def skipped(self, packets: int) -> None:
        """The first stream's first `packets` were sought past."""
        if self.first in self.counted:
            self.counted[self.first] = packets

    def packet(self, packet: Any) -> None:
        if packet.size and packet.stream_index in self.counted:
            self.counted[packet.stream_index] += 1

    def finish(self) -> None:
        for index, declared in self.declared.items():
            if self.counted[index] != declared:
                raise InputError(
                    f"{self.kinds[index]} data is damaged: {self.counted[index]} of the "
                    f"{declared} frames its blocks hold could be read"
                )


def _decoded(container: Any, stream: Any, limits: Limits, first: int = 0) -> Iterator[Any]:
    """The stream's frames, checked as they come and, at the end, for being all there
    (`first`: frames a seek went past, one packet each: a seek lands on a keyframe that
    closes its past)."""
    whole = _Whole(stream, limits)
    whole.skipped(first)
    for packet in container.demux(stream):
        whole.packet(packet)
        for frame in packet.decode():
            whole.frame(frame)
            yield frame
    whole.finish()


def iter_frames(
    path: Path, limits: Limits | None = None, start: int = 0
) -> Iterator[tuple[int, np.ndarray]]:
    """Every frame of the first video stream from frame `start` on, upright RGB, in
    presentation order. From a clean keyframe at or before `start` when the stream has one
    (see _seek_point), else from the first frame; the frames before `start` are decoded
    (to count them) but not converted."""
    for index, frame in _decoded_from(path, limits or Limits(), start):
        yield index, _upright(frame, _frame_rotation(frame))


def _decoded_from(path: Path, limits: Limits, start: int) -> Iterator[tuple[int, Any]]:
    """The decoded frames (as FFmpeg gives them) from frame `start` on, numbered."""
    point = _seek_point(path, start) if start > 0 else None
    try:
        yield from _frames_from(path, limits, start, point)
    except _SeekMissed:  # nothing was yielded: the same frames, decoded from the start
        yield from _frames_from(path, limits, start, None)


class _SeekMissed(Exception):
    """A seek did not land on the frames its demux pass promised."""


@dataclass
class _SeekPoint:
    pts: int  # a keyframe's
    index: int  # its frame number: how many frames come before it
    following: list[int]  # the pts of it and every later frame, in presentation order


def count_packets(path: Path) -> int:
    """The first video stream's packets, read without decoding: its frames, for a stream
    whose container does not declare them (Matroska, WebM)."""
    with _open(path) as container, _reading("video cannot be read"):
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def _seek_point(path: Path, start: int) -> _SeekPoint | None:
    """The last keyframe at or before frame `start` that closes its past: every packet
    before it (in the file) shows earlier, every packet after it later, so its frame number
    is the count of packets before it. Found by reading packets, not decoding them; None
    where the stream gives no such point (a packet without a timestamp, two with one)."""
    with _open(path) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.size]
    stamps = [pts for pts, _ in packets]
    if not stamps or None in stamps or len(set(stamps)) != len(stamps):
        return None
    later_min = stamps[:]
    for j in range(len(stamps) - 2, -1, -1):
        later_min[j] = min(stamps[j], later_min[j + 1])
    best, earlier_max = 0, None
    for j, (pts, key) in enumerate(packets[: start + 1]):
        if key and later_min[j] == pts and (earlier_max is None or earlier_max < pts):
            best = j
        earlier_max = pts if earlier_max is None else max(earlier_max, pts)
    if best == 0:
        return None
    return _SeekPoint(stamps[best], best, sorted(stamps)[best:])


def _frames_from(path: Path, limits: Limits, start: int,
                 point: _SeekPoint | None) -> Iterator[tuple[int, Any]]:
    with _open(path) as container:
        index = 0
        with _reading(lambda: f"video stops decoding at frame {index}"):
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if point is not None:
                container.seek(point.pts, stream=stream, backward=True, any_frame=False)
                index = point.index
            yielded = False
            for frame in _decoded(container, stream, limits, index):
                if point is not None and (index - point.index >= len(point.following) or
                                          frame.pts != point.following[index - point.index]):
                    if not yielded:
                        raise _SeekMissed
                    raise InputError(f"video frame {index} is not where its packets say")
                if index >= start:
                    yielded = True
                    yield index, frame
                index += 1


def _frame_rotation(frame: Any) -> int:
    """PyAV gives the display matrix angle counter-clockwise; veil works clockwise."""
    angle = getattr(frame, "rotation", 0) or 0
    return int(round(-float(angle))) % 360


@dataclass
class EncodeStats:
    frames: int
    audio_packets: int
    audio_reencoded: int = 0  # streams the output container could not take as they were


class _RenderFailed(Exception):
    """The caller's render function raised: its error, carried past the decoder's handling."""


class _WriteFailed(Exception):
    """Writing the output failed (a full disk): not the input's fault."""


def encode_video(
    src: Path,
    dst: Path,
    render: Painter,
    options: EncodeOptions,
    limits: Limits | None = None,
    threads: int = 0,
    progress: Callable[[int], None] | None = None,
    expected_frames: int | None = None,
    info: VideoInfo | None = None,
) -> EncodeStats:
    """Decode `src`, paint each upright frame as `render` says, and write `dst` atomically.

    The output holds one video stream (every input timestamp kept) and the audio streams
    (copied bit for bit where the container takes the codec, else re-encoded to AAC; or
    dropped); no subtitle, data or attachment stream, no chapters, no container or stream
    tags. On any error nothing is left at `dst`.
    """
    limits = limits or Limits()
    info = info or probe_video(src, limits)  # the caller's probe, when it made one
    written = _written_format(dst)
    stats = EncodeStats(frames=0, audio_packets=0)
    with _output(src, dst, written.muxer or "mp4", dst.name) as (inp, out):
        vin, vout, audio_map = _add_streams(inp, out, options, threads, info, written)
        stats.audio_reencoded = sum(not copy for _, copy in audio_map.values())
        _transcode(inp, out, vin, vout, audio_map, render, stats, progress, limits, threads)
        if expected_frames is not None and stats.frames != expected_frames:
            raise VeilError(
                f"decoded {stats.frames} frames on the second pass but "
                f"{expected_frames} on the first; no output written"
            )
    return stats


@contextmanager
def _output(src: Path, dst: Path, muxer: str, what: str) -> Iterator[tuple[Any, Any]]:
    """`src` open for reading and an output container for `dst`, written to a temporary file
    and renamed when the block ends cleanly. On any error nothing is left at `dst`: the
    render function's own error is raised as it is, a write error (a full disk) as a
    VeilError naming `what`, and whatever reading `src` raises as an InputError."""
    try:
        with atomic_output(dst) as tmp, _open(src) as inp, _reading("video stops decoding"):
            clock = inp.streams.video[0].time_base if muxer == PART_MUXER else None
            out = _open_output(tmp, muxer, clock.denominator if clock else None)
            try:
                yield inp, out
            except BaseException:
                with suppress(Exception):
                    out.close()
                raise
            _close_output(out)
    except _RenderFailed as exc:
        raise exc.__cause__ or exc  # noqa: B904 - the render error itself, with its traceback
    except (_WriteFailed, OSError) as exc:
        cause = exc.__cause__ if isinstance(exc, _WriteFailed) else exc
        raise VeilError(f"cannot write {what}: {_reason(cause or exc)}") from exc


# Parts of one video are written as QuickTime: it keeps each packet's decoding and
# presentation timestamps as the encoder made them (NUT and Matroska keep presentation
# times only, and derive the rest), in the source's own time base.
PART_MUXER = "mov"


def encode_video_part(
    src: Path,
    part: Path,
    render: Painter,
    options: EncodeOptions,
    start: int,
    stop: int | None,
    limits: Limits | None = None,
    threads: int = 0,
    info: VideoInfo | None = None,
) -> EncodeStats:
    """Frames `start` to `stop` (not included; None: the end) of `src`, rendered and encoded
    on their own into `part`: video only, each frame with its source timestamp, for
    join_video_parts. Decoding starts at a clean keyframe at or before `start` (see
    _seek_point); the last part reads to the end and checks the stream was whole. On any
    error nothing is left at `part`."""
    limits = limits or Limits()
    info = info or probe_video(src, limits)
    stats = EncodeStats(frames=0, audio_packets=0)

    def window() -> Iterator[tuple[int, Any]]:
        for index, frame in _decoded_from(src, limits, start):
            if stop is not None and index >= stop:
                return
            yield index, frame

    with _output(src, part, PART_MUXER, "a part of the video") as (inp, out):
        vin = inp.streams.video[0]
        vout = _add_video(out, vin, options, threads, info)
        out.metadata.clear()
        _encode_frames(window(), out, vout, vin.time_base, render, stats, None, threads)
    return stats


def join_video_parts(
    src: Path, parts: list[Path], dst: Path, options: EncodeOptions,
    limits: Limits | None = None,
) -> EncodeStats:
    """Write `dst` from the parts encode_video_part made of `src` (in order), their packets
    copied as they are, and the audio streams of `src` copied once (as encode_video would
    write them). Raises PartsDoNotJoin when the parts' encoders disagree; on any error
    nothing is left at `dst`. The parts are left to the caller."""
    written = _written_format(dst)
    stats = EncodeStats(frames=0, audio_packets=0)
    with _output(src, dst, written.muxer or "mp4", dst.name) as (inp, out):
        with _open_part(parts[0]) as first:
            vout = out.add_stream_from_template(first.streams.video[0])
        vout.metadata.clear()
        audio_map = _add_audio(inp, out, options, written)
        out.metadata.clear()
        stats.audio_reencoded = sum(not copy for _, copy in audio_map.values())
        video = _part_packets(parts, vout, stats)
        streams = [inp.streams[i] for i in audio_map]
        copied = _CopiedAudio()
        audio = _source_audio(inp, streams, copied) if audio_map else iter(())
        blocks = _Blocks(inp, streams)
        for packet in heapq.merge(video, audio, key=_packet_time):
            if packet.stream.type == "video":
                _mux(out, [packet])
                continue
            if packet.is_corrupt:
                raise InputError("audio data is damaged or cut short")
            blocks.packet(packet)
            _audio(out, packet, *audio_map[packet.stream.index], stats, copied)
        blocks.finish()
        copied.finish()
        for aout, copy in audio_map.values():
            if not copy:
                _mux(out, _encoded(aout, None))
    return stats


def _source_audio(inp: Any, streams: list[Any], copied: _CopiedAudio) -> Iterator[Any]:
    """The audio packets of `streams`, with the video's demuxed alongside for `copied` to
    know which bytes are the video's."""
    for packet in inp.demux(inp.streams.video[0], *streams):
        if packet.stream.type == "video":
            copied.video(packet)
        else:
            yield packet


def _open_part(path: Path) -> Any:
    import av

    return av.open(str(path), format=PART_MUXER)


def _part_packets(parts: list[Path], vout: Any, stats: EncodeStats) -> Iterator[Any]:
    """Every video packet of the parts, in order, checked to join: the same stream header
    in each, a keyframe first, decoding timestamps that only go forwards."""
    header = vout.codec_context.extradata
    last_dts: int | None = None
    for path in parts:
        with _open_part(path) as part:
            stream = part.streams.video[0]
            if stream.codec_context.extradata != header:
                raise PartsDoNotJoin("the parts of this video were encoded with different "
                                     "stream headers")
            first = True
            for packet in part.demux(stream):
                if not packet.size:
                    continue
                if packet.dts is None or packet.pts is None or (first and not packet.is_keyframe):
                    raise PartsDoNotJoin("a part of this video does not start cleanly")
                dts = int(packet.dts * packet.time_base / vout.time_base)
                if last_dts is not None and dts <= last_dts:
                    raise PartsDoNotJoin("the parts of this video overlap in time")
                last_dts, first = dts, False
                packet.stream = vout
                stats.frames += 1
                yield packet


def _packet_time(packet: Any) -> float:
    """When a packet is decoded, in seconds (the muxer interleaves by it)."""
    if packet.dts is None:
        return float("-inf")
    return float(packet.dts * packet.time_base)


def _written_format(dst: Path) -> formats.Format:
    """The container an output is written in, by its name (MP4 when the name says none)."""
    written = formats.by_suffix(dst.suffix)
    if written is None or written.muxer is None:
        written = formats.by_name("MP4")
    return written


def _open_output(path: Path, muxer: str, timescale: int | None = None) -> Any:
    import av

    # bitexact: the muxer writes no encoder tag or creation time of its own.
    options = {"fflags": "+bitexact"}
    if timescale:
        # QuickTime's own clock (where its edit list starts a part) ticks in the video's
        # time base, not its default milliseconds, which set a part starting between two
        # milliseconds (at 30 fps, most) up to 1 ms early: timestamps are kept exactly.
        options["movie_timescale"] = str(timescale)
    try:
        return av.open(str(path), "w", format=muxer, options=options)
    except OSError as exc:
        raise _WriteFailed from exc


def _close_output(out: Any) -> None:
    """Write the trailer: a write error is ours to report, anything else the input's."""
    try:
        out.close()
    except OSError as exc:
        raise _WriteFailed from exc


def _add_streams(
    inp: Any,
    out: Any,
    options: EncodeOptions,
    threads: int,
    info: VideoInfo,
    written: formats.Format,
) -> tuple[Any, Any, dict[int, tuple[Any, bool]]]:
    """The output's video stream (upright, even-sized) and its audio streams, untagged: each
    input audio stream -> (output stream, copied as it is)."""
    vin = inp.streams.video[0]
    vin.thread_type = "AUTO"
    vout = _add_video(out, vin, options, threads, info)
    audio_map = _add_audio(inp, out, options, written)
    out.metadata.clear()
    return vin, vout, audio_map


def _add_video(out: Any, vin: Any, options: EncodeOptions, threads: int,
               info: VideoInfo) -> Any:
    """The encoder's stream, upright and even-sized, in the input's time base."""
    rate = vin.average_rate or vin.guessed_rate or Fraction(30)
    vout: Any = out.add_stream(options.codec, rate=rate)
    vout.width, vout.height = info.width - info.width % 2, info.height - info.height % 2
    vout.pix_fmt = "yuv420p"
    vout.time_base = vin.time_base
    vout.codec_context.time_base = vin.time_base
    vout.options = encoder_settings(options)
    if threads:
        vout.codec_context.thread_count = threads
    _describe_colours(vout.codec_context, vin.codec_context, info)
    vout.metadata.clear()
    return vout


def _describe_colours(encoder: Any, decoder: Any, info: VideoInfo) -> None:
    """Tell players how to read the output's YUV: the source's primaries and transfer (an
    HLG or PQ source is tagged as one, if in 8 bits), and the matrix the YUV was made
    with: the source's own where frames reach the encoder as decoded (_yuv420), else
    BT.601, OpenCV's, in video range."""
    as_decoded = _as_decoded(decoder.pix_fmt, decoder.color_range, info.width, info.height)
    matrix = decoder.colorspace if as_decoded else _SMPTE170M
    for name, value in (("color_primaries", decoder.color_primaries),
                        ("color_trc", decoder.color_trc), ("colorspace", matrix)):
        # a value the encoders do not know (reserved, or newer than x264) is left unsaid
        setattr(encoder, name, value if value in _DESCRIBABLE[name] else _UNSPECIFIED)
    encoder.color_range = _VIDEO_RANGE


def _add_audio(inp: Any, out: Any, options: EncodeOptions,
               written: formats.Format) -> dict[int, tuple[Any, bool]]:
    """Each input audio stream -> (output stream, copied as it is), untagged."""
    audio_map: dict[int, tuple[Any, bool]] = {}
    for ain in inp.streams.audio if options.audio == "copy" else ():
        name = ain.codec_context.name if ain.codec_context is not None else None
        if name is None:
            continue  # a stream with no codec: nothing to copy
        # the table's list where it has one (a muxer may claim a codec it then refuses to
        # write: QuickTime and Opus), and always what FFmpeg's muxer says it can hold
        copy = (written.audio_copy is None or name in written.audio_copy) and (
            name in out.supported_codecs)
        headers = None
        if copy and name == "vorbis":  # its comment header holds tags: emptied, or encoded anew
            headers = xiph.untagged(bytes(ain.codec_context.extradata or b""))
            copy = headers is not None
        aout = out.add_stream_from_template(ain) if copy else out.add_stream("aac", rate=ain.rate)
        if headers is not None:
            aout.codec_context.extradata = headers
        aout.metadata.clear()
        audio_map[ain.index] = (aout, copy)
    return audio_map


def _transcode(
    inp: Any,
    out: Any,
    vin: Any,
    vout: Any,
    audio_map: dict[int, tuple[Any, bool]],
    render: Painter,
    stats: EncodeStats,
    progress: Callable[[int], None] | None,
    limits: Limits,
    threads: int = 0,
) -> None:
    """Copy audio packets and re-encode every rendered video frame, counting into `stats`."""
    def frames() -> Iterator[tuple[int, Any]]:
        audio = [inp.streams[i] for i in audio_map]
        whole, copied = _Whole(vin, limits, audio), _CopiedAudio()
        index = 0
        for packet in inp.demux(vin, *audio):
            whole.packet(packet)
            if packet.stream.type == "audio":
                _audio(out, packet, *audio_map[packet.stream.index], stats, copied)
                continue
            copied.video(packet)
            for frame in packet.decode():
                whole.frame(frame)
                yield index, frame
                index += 1
        whole.finish()
        copied.finish()

    _encode_frames(frames(), out, vout, vin.time_base, render, stats, progress, threads)
    for aout, copy in audio_map.values():
        if not copy:
            _mux(out, _encoded(aout, None))


def _encode_frames(
    frames: Iterator[tuple[int, Any]],
    out: Any,
    vout: Any,
    time_base: Fraction,
    render: Painter,
    stats: EncodeStats,
    progress: Callable[[int], None] | None,
    threads: int = 0,
) -> None:
    """Render and encode numbered decoded frames, in order, keeping their timestamps.

    Frames are decoded and encoded in this thread; in between, each is converted to RGB,
    rendered and converted back on `threads` threads (0: one per core), a few frames in
    flight: one thread converting both ways holds a 1080p clip to about 50 fps, whatever
    the encoder could do (FFmpeg's conversions release the GIL).
    """
    workers = threads or os.cpu_count() or 1
    pending: deque[tuple[Future[Any], int | None]] = deque()
    last_pts: int | None = None

    def write(until: int) -> None:
        nonlocal last_pts
        while len(pending) > until:
            future, pts = pending.popleft()
            new = future.result()
            pts = pts if pts is not None else (last_pts or 0) + 1
            if last_pts is not None and pts <= last_pts:
                pts = last_pts + 1  # encoders need strictly increasing timestamps
            new.pts, new.time_base = pts, time_base
            last_pts = pts
            _mux(out, _encoded(vout, new))
            stats.frames += 1
            if progress is not None:
                progress(stats.frames)

    with ThreadPoolExecutor(workers, thread_name_prefix="veil-render") as pool:
        try:
            for index, frame in frames:
                job = pool.submit(_clean, render, index, frame, vout.width, vout.height)
                pending.append((job, frame.pts))
                write(2 * workers)
            write(0)
        finally:
            for job, _ in pending:
                job.cancel()
    _mux(out, _encoded(vout, None))


def _clean(render: Painter, index: int, frame: Any, width: int, height: int) -> Any:
    """One decoded frame painted, as the encoder takes it (yuv420p, even-sized)."""
    import av

    rotation = _frame_rotation(frame)
    planes = _yuv420(frame, rotation, width, height)
    try:
        areas = render(index)
        if planes is None:
            planes = _painted_rgb(frame, rotation, areas, width, height)
        else:
            _paint_planes(planes, width, height, areas)
    except Exception as exc:
        raise _RenderFailed from exc
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def _painted_rgb(frame: Any, rotation: int, areas: list[tuple[Box, Paint]], width: int,
                 height: int) -> np.ndarray:
    """A frame of any other format painted whole in RGB, as an I420 buffer the encoder takes."""
    rgb = _upright(frame, rotation)
    for _, paint in areas:
        paint(rgb, (0, 0))
    if rgb.shape[0] != height or rgb.shape[1] != width:
        rgb = np.ascontiguousarray(rgb[:height, :width])
    # OpenCV's conversion (BT.601, video range, as FFmpeg's default) took 2.3 ms a 1080p frame
    # here where PyAV's from rgb24 and reformat took 11 (docs/gpu.md).
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), np.uint8)


def _yuv420(frame: Any, rotation: int, width: int, height: int) -> np.ndarray | None:
    """The frame's Y, U and V planes, upright, as one I420 buffer (height * 3/2 rows of
    `width`), copied (the decoder may still read the frame); None unless the frame is 8-bit
    4:2:0 in video range, even-sized and `width` x `height` once upright (an odd size is
    cropped on the RGB path; full range would be misread as video range)."""
    upright = (frame.height, frame.width) if rotation in (90, 270) else (frame.width,
                                                                         frame.height)
    if upright != (width, height) or not _as_decoded(frame.format.name, frame.color_range,
                                                     width, height):
        return None
    out = np.empty((height * 3 // 2, width), np.uint8)
    for plane, view in zip(frame.planes, _i420_views(out, width, height), strict=True):
        data = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        view[:] = _turned(data[:, : plane.width], rotation)
    return out


def _as_decoded(pix_fmt: str | None, color_range: int, width: int, height: int) -> bool:
    """Whether frames of this format and upright size reach the encoder as decoded: 8-bit
    4:2:0 in video range, even-sized (the one test for the frames and for the stream's
    colour description)."""
    return (pix_fmt == "yuv420p" and color_range != _FULL_RANGE
            and width % 2 == 0 and height % 2 == 0)


_FULL_RANGE = 2  # AVCOL_RANGE_JPEG: luma from 0 to 255
_VIDEO_RANGE = 1  # AVCOL_RANGE_MPEG: luma from 16 to 235
_SMPTE170M = 6  # AVCOL_SPC_SMPTE170M: the BT.601 matrix
_UNSPECIFIED = 2
# FFmpeg's numbers for the colour descriptions x264 (and x265) write: primaries BT.709 to
# SMPTE 432 and EBU 3213, transfers BT.709 to ARIB STD-B67 (HLG), matrices RGB to ICtCp.
_DESCRIBABLE = {"color_primaries": {1, *range(4, 13), 22},
                "color_trc": {1, *range(4, 19)},
                "colorspace": {0, 1, *range(4, 15)}}
# FFmpeg's colour matrices that OpenCV's conversions implement: BT.470BG and SMPTE 170M
# (BT.601), and unspecified, which FFmpeg reads as BT.601 too; BT.709 and BT.2020 frames
# become RGB through PyAV with their own matrix.
_BT601 = (2, 5, 6)


def _turned(plane: np.ndarray, rotation: int) -> np.ndarray:
    """A plane turned clockwise by `rotation` degrees, as _upright turns a frame."""
    if rotation == 90:
        return np.rot90(plane, k=-1)
    if rotation == 180:
        return plane[::-1, ::-1]
    if rotation == 270:
        return np.rot90(plane, k=1)
    return plane


def _i420_views(buffer: np.ndarray, width: int, height: int) -> list[np.ndarray]:
    """Views of the Y, U and V planes of an I420 buffer of an even-sized frame."""
    flat = buffer.reshape(-1)
    luma, chroma = width * height, width * height // 4
    return [flat[:luma].reshape(height, width),
            flat[luma:luma + chroma].reshape(height // 2, width // 2),
            flat[luma + chroma:].reshape(height // 2, width // 2)]


def _paint_planes(planes: np.ndarray, width: int, height: int,
                  areas: list[tuple[Box, Paint]]) -> None:
    """Paint `areas` onto an I420 frame, converting only their boxes (widened to even
    coordinates, as chroma comes in 2x2 blocks) to RGB and back, one after another, so
    that boxes that overlap paint as they would on the whole frame. OpenCV converts with
    BT.601 both ways: whatever the source's matrix, what is not painted comes back as it
    was within rounding (a fill of black or white is the same in any matrix)."""
    covered = sum((x2 - x1) * (y2 - y1) for (x1, y1, x2, y2), _ in areas)
    if covered > WHOLE_FRAME_SHARE * width * height:
        areas = [((0, 0, width, height), _all(areas))]
    y, u, v = _i420_views(planes, width, height)
    for (x1, y1, x2, y2), paint in areas:
        x1, y1 = max(0, x1 - x1 % 2), max(0, y1 - y1 % 2)
        x2, y2 = min(width, x2 + x2 % 2), min(height, y2 + y2 % 2)
        if x2 <= x1 or y2 <= y1:
            continue
        box = (slice(y1, y2), slice(x1, x2))
        half = (slice(y1 // 2, y2 // 2), slice(x1 // 2, x2 // 2))
        part = np.concatenate([y[box].ravel(), u[half].ravel(), v[half].ravel()])
        rgb = cv2.cvtColor(part.reshape((y2 - y1) * 3 // 2, x2 - x1), cv2.COLOR_YUV2RGB_I420)
        paint(rgb, (x1, y1))
        back = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
        y[box], u[half], v[half] = _i420_views(back, x2 - x1, y2 - y1)


def _all(areas: list[tuple[Box, Paint]]) -> Paint:
    """One paint that paints every area in order."""
    def paint(rgb: np.ndarray, origin: tuple[int, int]) -> None:
        for _, each in areas:
            each(rgb, origin)
    return paint


class _CopiedAudio:
    """Checks the audio packets copied bit for bit: each must decode, start after the
    stream's packet before it and no earlier than that one ends, and (at the end) hold no
    byte of the file that a video packet holds. A video frame's bytes that reach an audio
    stream are an unmasked picture, copied into the output as they are: one flipped bit
    relabels a Matroska block (AAC, MP3, AC-3 and FLAC decoders refuse the bytes; Opus,
    Vorbis and PCM decode anything, but the frame's time lies inside the sound's, which is
    continuous), or points an MP4's audio chunk into a video frame (PCM in a camera's MOV)."""

    OVERLAP_S = 0.0015  # Matroska rounds each time to the millisecond: 1 ms, and a half

    def __init__(self) -> None:
        self.last: dict[int, tuple[float, float]] = {}  # stream -> (start, end) seconds
        self.video_bytes: array[int] = array("q")  # start, end of each video packet's bytes
        self.audio_bytes: array[int] = array("q")  # start, end, and its time in ms

    def video(self, packet: Any) -> None:
        if packet.pos is not None and packet.pos >= 0 and packet.size:
            self.video_bytes.extend((packet.pos, packet.pos + packet.size))

    def check(self, packet: Any) -> None:
        import av

        at = float(packet.pts * packet.time_base) if packet.pts is not None else None
        try:
            packet.decode()
        except av.error.FFmpegError as exc:
            raise InputError(_damaged_audio(at, "does not decode")) from exc
        if packet.pos is not None and packet.pos >= 0 and packet.size:
            self.audio_bytes.extend((packet.pos, packet.pos + packet.size,
                                     round((at or 0.0) * 1000)))
        if at is None:
            return  # a laced frame's time is its block's
        start, end = self.last.get(packet.stream_index, (float("-inf"), float("-inf")))
        if at <= start or at < end - self.OVERLAP_S:
            raise InputError(_damaged_audio(at, "lies inside the one before it"))
        length = float((packet.duration or 0) * packet.time_base)
        self.last[packet.stream_index] = (at, at + length)

    def finish(self) -> None:
        """Raise InputError if a copied audio packet holds bytes of a video packet."""
        if not self.video_bytes or not self.audio_bytes:
            return
        video = np.frombuffer(self.video_bytes, np.int64).reshape(-1, 2)
        video = video[np.argsort(video[:, 0], kind="stable")]
        reach = np.maximum.accumulate(video[:, 1])  # how far the video packets so far go
        audio = np.frombuffer(self.audio_bytes, np.int64).reshape(-1, 3)
        before = np.searchsorted(video[:, 0], audio[:, 1], side="left") - 1
        shared = (before >= 0) & (reach[np.maximum(before, 0)] > audio[:, 0])
        if shared.any():
            at = int(audio[np.argmax(shared), 2]) / 1000
            raise InputError(_damaged_audio(at, "holds bytes of a video frame"))


def _damaged_audio(at: float | None, what: str) -> str:
    where = f" at {at:.3f} s" if at is not None else ""
    return (f"audio data is damaged: a packet{where} {what} (--audio drop writes the video "
            "without its sound)")


def _audio(out: Any, packet: Any, aout: Any, copy: bool, stats: EncodeStats,
           copied: _CopiedAudio) -> None:
    """One audio packet into the output: as it is (once `copied` has checked it), or
    decoded and encoded again."""
    if copy:
        if packet.dts is None:
            return
        copied.check(packet)
        packet.stream = aout
        _mux(out, [packet])
    else:
        for frame in packet.decode():
            frame.pts = None  # the encoder counts samples itself
            _mux(out, _encoded(aout, frame))
    stats.audio_packets += 1


def _encoded(stream: Any, frame: Any) -> Any:
    """The stream's packets for `frame` (None: the encoder's last). The encoder's failure
    is not the input's: it is named as what failed (an encoder that took the probe's small
    frames may refuse the stream's size or frame rate)."""
    try:
        return stream.encode(frame)
    except Exception as exc:  # noqa: BLE001 - whatever the encoder raises
        name = stream.codec_context.name
        raise VeilError(f"the {name} encoder cannot write this video: {_reason(exc)}") from exc


def _mux(out: Any, packets: Any) -> None:
    try:
        for packet in packets:
            out.mux(packet)
    except OSError as exc:  # FFmpeg's write errors (a full disk) are OSErrors too
        raise _WriteFailed from exc
