"""Video in and out through PyAV (FFmpeg): upright frames with their timestamps, and an
encoder that writes only video and audio streams, with no container or stream tags.

Nothing here knows about faces: the caller passes a function that turns each decoded frame
into the frame to write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .. import formats
from ..errors import InputError, VeilError
from ..options import EncodeOptions
from .files import atomic_output


@dataclass
class VideoInfo:
    """What a player needs to know about a video, and nothing else."""

    width: int  # upright (after rotation)
    height: int
    frames: int  # as the container declares it; 0 when unknown
    rotation: int
    codec: str
    dropped_streams: list[str]  # subtitle, data, attachment streams: never written


def _open(path: Path) -> Any:
    """Open a video with the demuxer of the format its bytes match (never by its name)."""
    import av

    try:
        with open(path, "rb") as fh:
            head = fh.read(formats.HEAD_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from exc
    sniffed = formats.sniff(head)
    if sniffed is None or sniffed.kind != "video":
        raise InputError(f"not a video veil can read: it takes {formats.accepted()}")
    try:
        return av.open(str(path), format=sniffed.demuxer, metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(f"not a video veil can read: {exc}") from exc


def probe_video(path: Path) -> VideoInfo:
    """Stream layout of a video file; raises InputError when there is no video stream."""
    with _open(path) as container:
        if not container.streams.video:
            raise InputError("no video stream")
        video = container.streams.video[0]
        ctx = video.codec_context
        rotation = _rotation(container)
        width, height = ctx.width, ctx.height
        if rotation in (90, 270):
            width, height = height, width
        dropped = [
            f"{s.type}:{getattr(s.codec_context, 'name', None) or s.type}"
            for s in container.streams
            if s.type not in ("video", "audio")
        ] + [f"video:{s.index}" for s in container.streams.video[1:]]
        return VideoInfo(
            width=width,
            height=height,
            frames=int(video.frames or 0),
            rotation=rotation,
            codec=ctx.name,
            dropped_streams=dropped,
        )


def _rotation(container: Any) -> int:
    """Clockwise rotation a player applies (0, 90, 180, 270), from the display matrix.

    PyAV exposes it on decoded frames, so the first frame is decoded to read it; the
    container is rewound afterwards.
    """
    import av

    try:
        frame = next(container.decode(video=0))
    except (StopIteration, av.error.FFmpegError):
        return 0
    finally:
        container.seek(0)
    return _frame_rotation(frame)


def _upright(frame: Any, rotation: int) -> np.ndarray:
    arr = frame.to_ndarray(format="rgb24")
    if rotation == 90:
        return np.ascontiguousarray(np.rot90(arr, k=-1))
    if rotation == 180:
        return np.ascontiguousarray(arr[::-1, ::-1])
    if rotation == 270:
        return np.ascontiguousarray(np.rot90(arr, k=1))
    return arr


def iter_frames(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    """Every frame of the first video stream, upright RGB, in presentation order."""
    import av

    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index = 0
        try:
            for frame in container.decode(stream):
                yield index, _upright(frame, _frame_rotation(frame))
                index += 1
        except av.error.FFmpegError as exc:
            raise InputError(f"video stops decoding at frame {index}: {exc}") from exc


def _frame_rotation(frame: Any) -> int:
    """PyAV gives the display matrix angle counter-clockwise; veil works clockwise."""
    angle = getattr(frame, "rotation", 0) or 0
    return int(round(-float(angle))) % 360


@dataclass
class EncodeStats:
    frames: int
    audio_packets: int


def encode_video(
    src: Path,
    dst: Path,
    render: Callable[[int, np.ndarray], np.ndarray],
    options: EncodeOptions,
    threads: int = 0,
    progress: Callable[[int], None] | None = None,
    expected_frames: int | None = None,
) -> EncodeStats:
    """Decode `src`, pass each upright frame through `render`, and write `dst` atomically.

    The output holds one video stream (every input timestamp kept) and the audio streams
    (copied bit for bit, or dropped); no subtitle, data or attachment stream, no chapters,
    no container or stream tags. On any error nothing is left at `dst`.
    """
    import av

    written = formats.by_suffix(dst.suffix)
    muxer = written.muxer if written is not None and written.muxer else "mp4"
    stats = EncodeStats(frames=0, audio_packets=0)
    try:
        # bitexact: the muxer writes no encoder tag or creation time of its own.
        with (
            atomic_output(dst) as tmp,
            _open(src) as inp,
            av.open(str(tmp), "w", format=muxer, options={"fflags": "+bitexact"}) as out,
        ):
            vin, vout, audio_map = _add_streams(inp, out, options, threads)
            _transcode(inp, out, vin, vout, audio_map, render, stats, progress)
            if expected_frames is not None and stats.frames != expected_frames:
                raise VeilError(
                    f"decoded {stats.frames} frames on the second pass but {expected_frames} on"
                    " the first; no output written"
                )
    except av.error.FFmpegError as exc:
        raise InputError(f"video stops decoding at frame {stats.frames}: {exc}") from exc
    except OSError as exc:
        raise VeilError(f"cannot write {dst}: {exc.strerror or exc}") from exc
    return stats


def _add_streams(
    inp: Any, out: Any, options: EncodeOptions, threads: int
) -> tuple[Any, Any, dict[int, Any]]:
    """The output's video stream (upright, even-sized) and its copied audio streams, untagged."""
    vin = inp.streams.video[0]
    vin.thread_type = "AUTO"
    rotation = _rotation(inp)
    width, height = vin.codec_context.width, vin.codec_context.height
    if rotation in (90, 270):
        width, height = height, width
    rate = vin.average_rate or vin.guessed_rate or Fraction(30)
    vout: Any = out.add_stream(options.codec, rate=rate)
    vout.width, vout.height = width - width % 2, height - height % 2
    vout.pix_fmt = "yuv420p"
    vout.time_base = vin.time_base
    vout.codec_context.time_base = vin.time_base
    vout.options = {"crf": str(options.crf), "preset": options.preset}
    if threads:
        vout.codec_context.thread_count = threads
    audio_map = {}
    if options.audio == "copy":
        for ain in inp.streams.audio:
            aout = out.add_stream_from_template(ain)
            aout.metadata.clear()
            audio_map[ain.index] = aout
    vout.metadata.clear()
    out.metadata.clear()
    return vin, vout, audio_map


def _transcode(
    inp: Any,
    out: Any,
    vin: Any,
    vout: Any,
    audio_map: dict[int, Any],
    render: Callable[[int, np.ndarray], np.ndarray],
    stats: EncodeStats,
    progress: Callable[[int], None] | None,
) -> None:
    """Copy audio packets and re-encode every rendered video frame, counting into `stats`."""
    import av

    last_pts = None
    for packet in inp.demux(vin, *[inp.streams[i] for i in audio_map]):
        if packet.stream.type == "audio":
            if packet.dts is None:
                continue
            packet.stream = audio_map[packet.stream.index]
            out.mux(packet)
            stats.audio_packets += 1
            continue
        frame: Any
        for frame in packet.decode():
            clean = render(stats.frames, _upright(frame, _frame_rotation(frame)))
            if clean.shape[0] != vout.height or clean.shape[1] != vout.width:
                clean = np.ascontiguousarray(clean[: vout.height, : vout.width])
            new = av.VideoFrame.from_ndarray(clean, format="rgb24")
            pts = frame.pts if frame.pts is not None else (last_pts or 0) + 1
            if last_pts is not None and pts <= last_pts:
                pts = last_pts + 1  # encoders need strictly increasing timestamps
            new.pts, new.time_base = pts, vin.time_base
            last_pts = pts
            for out_packet in vout.encode(new):
                out.mux(out_packet)
            stats.frames += 1
            if progress is not None:
                progress(stats.frames)
    for out_packet in vout.encode():
        out.mux(out_packet)
