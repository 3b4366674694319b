"""Fail closed on hostile and damaged files: the mutation corpus (tests/hostile.py), the
hand-made bombs, and each way the promises broke before, as a test of its own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import veil
from conftest import run_veil
from hostile import (
    BOMBS,
    FAILURES,
    ico_named_png,
    image_seeds,
    jpeg_lying_size,
    jpeg_repeated_scans,
    matroska_blocks,
    mjpeg_huge_frames,
    mutate,
    png_short_rows,
    video_seeds,
)

HERE = Path(__file__).parent
GIB = 1024**3


def _corpus(*args: str, timeout: float) -> dict:
    """Run the corpus in a process of its own (a hang or a blow-up is caught, not inherited)."""
    res = subprocess.run(
        [sys.executable, str(HERE / "hostile.py"), "--json", *args],
        capture_output=True, text=True, timeout=timeout, cwd=HERE.parent,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)


def _judge(run: dict, seconds_each: float) -> None:
    outcomes = run["outcomes"]
    failures = [o for o in outcomes if o["result"] in FAILURES]
    assert not failures, "\n".join(f"{o['case']} ({o['mutation']}): {o['result']}: {o['detail']}"
                                   for o in failures[:20])
    slow = [o for o in outcomes if o["seconds"] > seconds_each]
    assert not slow, [(o["case"], round(o["seconds"], 1)) for o in slow]
    assert run["peak_mib"] < 2048, run["peak_mib"]
    heavy = [(o["case"], o["peak_mib"]) for o in outcomes if o["peak_mib"] >= 2048]
    assert not heavy, heavy


def test_mutated_files_are_refused_in_one_line_or_written_whole() -> None:
    """A budgeted slice of the corpus (seeds are replayable: tests/hostile.py --case NAME)."""
    run = _corpus("--images", "240", "--videos", "24", "--relabels", "12",
                  "--start", str(_rotating_start()), timeout=600)
    _judge(run, seconds_each=20)


def _rotating_start() -> int:
    # Each day's run looks at another slice of the corpus; the slow test covers it all.
    return (int(time.time() // 86400) % 8) * 250


@pytest.mark.slow
def test_the_whole_corpus_and_every_bomb() -> None:
    """2,000 image, 200 video and 100 relabelled-clip cases and the bombs: no traceback, no
    output from a cut file, no video bytes in a sound, every case within 60 s and the whole
    run within 2 GiB."""
    run = _corpus("--images", "2000", "--videos", "200", "--relabels", "100", "--bombs",
                  timeout=5400)
    _judge(run, seconds_each=60)


# --- the reproductions from the fail-closed issue -------------------------------------------


def test_a_folder_of_damaged_files_still_gives_every_good_file(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    images, videos = image_seeds(), video_seeds()
    # Cases the corpus found raising a bare exception before (RuntimeError in Pillow's AVIF
    # plugin; PyAV's AttributeError, PermissionError from a seek, ValueError on an audio
    # stream with no codec): each must now fail alone, in one line.
    for name in ("avif:518", "mkv-h264-aac:65", "mp4-h264-aac:71", "mkv-h264-aac:101"):
        seed, _, number = name.partition(":")
        pool = images if seed in images else videos
        _, data = mutate(seed, pool[seed], int(number))
        suffix = ".avif" if seed == "avif" else ".mp4" if seed.startswith("mp4") else ".mkv"
        (src / f"{seed}-{number}{suffix}").write_bytes(data)
    (src / "good1.jpg").write_bytes(example_jpeg)
    (src / "good2.jpg").write_bytes(example_jpeg)
    res = run_veil(src, "-o", tmp_path / "out", "-q", "--report", tmp_path / "r.json")
    assert "Traceback" not in res.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    by_name = {f["input"]: f for f in report["files"]}
    assert by_name["good1.jpg"]["status"] == by_name["good2.jpg"]["status"] == "ok"
    assert (tmp_path / "out" / "good1.jpg").exists() and (tmp_path / "out" / "good2.jpg").exists()
    failed = [f for f in report["files"] if f["status"] != "ok"]
    assert res.returncode == (1 if failed else 0)
    assert len(res.stderr.strip().splitlines()) == len(failed)
    for f in failed:
        assert not f["error"].startswith("internal error"), f
        assert not (tmp_path / "out" / f["input"]).with_suffix(".mp4").exists()


@pytest.mark.parametrize(
    "make,reason",
    [
        (png_short_rows, "truncated PNG"),
        (jpeg_lying_size, "corrupt or truncated JPEG"),
        (jpeg_repeated_scans, "scans, over the limit"),
        (ico_named_png, "not an image veil can read"),
    ],
)
def test_a_photo_that_cannot_be_read_whole_is_refused_quickly(make, reason: str) -> None:
    data = make()
    started = time.perf_counter()
    # Past the size limit too (the default refuses these bombs on size alone).
    roomy = veil.Options(limits=veil.Limits(max_megapixels=200))
    with pytest.raises(veil.InputError, match=reason):
        veil.anonymize_image(data, roomy)
    assert time.perf_counter() - started < 5


def test_a_video_with_huge_frames_is_refused_before_decoding(tmp_path: Path) -> None:
    src = tmp_path / "huge.avi"
    src.write_bytes(mjpeg_huge_frames())
    res = run_veil(src, "-q")
    assert res.returncode == 1 and "over the 36 MP limit" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.veiled.*")) and not list(tmp_path.glob(".veil-*"))


def test_limits_are_flags(tmp_path: Path, example_jpeg: bytes) -> None:
    src = tmp_path / "p.jpg"
    src.write_bytes(example_jpeg)
    res = run_veil(src, "-q", "--max-megapixels", "0.5")
    assert res.returncode == 1 and "over the 0.5 MP limit" in res.stderr
    res = run_veil(src, "-q", "--max-jpeg-scans", "0")
    assert res.returncode == 2 and "--max-jpeg-scans must be a number between 1" in res.stderr


def test_pillow_keeps_its_own_guard_for_other_programs(example_jpeg: bytes) -> None:
    from PIL import Image, ImageFile

    before = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    veil.anonymize_image(example_jpeg, veil.Options(limits=veil.Limits(max_megapixels=500)))
    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    assert before[0] is not None


def test_pcm_audio_is_kept_as_aac_in_mp4(tmp_path: Path) -> None:
    src = tmp_path / "camera.avi"
    src.write_bytes(video_seeds()["avi-mjpeg-pcm"])  # MJPEG and PCM, as old cameras write
    _, report = veil.anonymize_video(src, tmp_path / "out.mp4")
    assert any("re-encoded to AAC" in w for w in report.warnings)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
         str(tmp_path / "out.mp4")], capture_output=True, text=True,
    )
    if probe.returncode == 0:  # ffprobe is installed by setup.sh
        assert probe.stdout.split() == ["h264", "aac"]


def test_stderr_is_one_line_for_a_name_with_a_newline(tmp_path: Path) -> None:
    src = tmp_path / "bad\nname.jpg"
    src.write_bytes(b"not a photo at all" * 10)
    res = run_veil(src, "-q")
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1


def test_bombs_list_is_what_the_issue_names() -> None:
    assert set(BOMBS) >= {"png-short-rows", "jpeg-lying-size", "jpeg-repeated-scans",
                          "ico-named-png", "mjpeg-16000", "png-flat-100mp", "png-flat-64mp"}


@pytest.mark.slow
@pytest.mark.parametrize("side", [(10_000, 9_999), (8_000, 8_000)])
def test_a_flat_png_up_to_the_limit_is_done_within_60_s_and_2_gib(
    tmp_path: Path, side: tuple[int, int]
) -> None:
    """100 MP (over the default 64 MP limit) is refused at once; 64 MP is processed."""
    from hostile import png_flat

    src = tmp_path / "flat.png"
    src.write_bytes(png_flat(*side))
    started = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-c",
         "import sys; from veil.cli import main; code = main(sys.argv[1:]); "
         # VmHWM (KiB): this process's own peak; ru_maxrss would carry over the parent's
         "print(next(line.split()[1] for line in open('/proc/self/status') "
         "if line.startswith('VmHWM:'))); sys.exit(code)",
         str(src), "-q"], capture_output=True, text=True, timeout=600,
    )
    elapsed = time.perf_counter() - started
    assert res.returncode == (1 if side[0] * side[1] > 64e6 else 0), res.stderr
    assert elapsed < 60 and int(res.stdout.split()[-1]) < 2 * 1024 * 1024, (elapsed, res.stdout)


def test_a_cut_video_gives_no_output(tmp_path: Path) -> None:
    from hostile import _video

    # AVI declares its frame count; Matroska only a duration (a cut past a second is seen).
    avi = video_seeds()["avi-mjpeg-pcm"]
    mkv = _video("matroska", "libx264", frames=40, audio="aac")
    for name, data in (("cut.avi", avi[: len(avi) * 2 // 3]), ("cut.mkv", mkv[: len(mkv) // 2])):
        src = tmp_path / name
        src.write_bytes(data)
        with pytest.raises(veil.InputError, match="cut short|damaged"):
            veil.anonymize_video(src, tmp_path / "out.mp4")
        assert not (tmp_path / "out.mp4").exists()


# --- Matroska: the demuxer reads past damage and loses frames without an error --------------


def _written_or_refused(src: Path, tmp_path: Path) -> str:
    """"refused: <why>", or how many frames were written."""
    import av

    out = tmp_path / "out.mp4"
    out.unlink(missing_ok=True)
    try:
        veil.anonymize_video(src, out, threads=1)
    except veil.InputError as exc:
        assert not out.exists() and "\n" not in str(exc)
        return f"refused: {exc}"
    with av.open(str(out)) as written:
        return f"{sum(1 for p in written.demux(video=0) if p.size)} frames written"


@pytest.mark.parametrize(
    "case,reason",
    [
        # Found by the corpus (6 frames in each seed): 1 and 5 of them were written.
        ("mkv-h264-aac:29", "its Matroska structure breaks at byte"),
        ("webm-vp9-opus:59", "its Matroska structure breaks at byte"),
    ],
)
def test_a_matroska_file_damaged_inside_a_cluster_gives_no_output(
    tmp_path: Path, case: str, reason: str
) -> None:
    seed, _, number = case.partition(":")
    _, data = mutate(seed, video_seeds()[seed], int(number))
    src = tmp_path / ("in.webm" if seed.startswith("webm") else "in.mkv")
    src.write_bytes(data)
    assert reason in _written_or_refused(src, tmp_path)


def test_a_matroska_block_the_demuxer_drops_gives_no_output(tmp_path: Path) -> None:
    """Damage that leaves the structure whole: a block of a track the file never declares
    (the demuxer skips it), and lacing flags set on a block of one frame (the demuxer drops
    the rest of its cluster: 2 of 6 frames were written; on the last block, a sound
    frame)."""
    from hostile import _video

    data = _video("matroska", "libx264", audio="aac")  # track 1 sound, track 2 video
    third = matroska_blocks(data, track=2)[2]
    stranger = bytearray(data)
    stranger[third] = 0x80 | 5
    laced = bytearray(data)
    laced[third + 3] |= 0x06  # after the track number and the 16-bit timestamp: the flags
    sound = bytearray(data)
    sound[matroska_blocks(data, track=1)[-1] + 3] |= 0x06  # the last block of all
    for name, damaged, reason in (
        ("stranger.mkv", stranger, "a block belongs to track 5, which the file does not"),
        ("laced.mkv", laced, "video data is damaged: 2 of the 6 frames its blocks hold"),
        ("sound.mkv", sound, "audio data is damaged"),
    ):
        (tmp_path / name).write_bytes(damaged)
        assert reason in _written_or_refused(tmp_path / name, tmp_path)


def test_matroska_files_of_unknown_size_are_read_whole(tmp_path: Path) -> None:
    """A live recording (or a browser's MediaRecorder) leaves the Segment's and the
    clusters' sizes unknown: each cluster then ends where an element no cluster holds
    begins."""
    import io

    import av

    class Pipe(io.RawIOBase):  # not seekable: FFmpeg cannot go back to write sizes
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            self.data += bytes(b)  # type: ignore[call-overload]
            return len(bytes(b))  # type: ignore[call-overload]

    pipe = Pipe()
    with av.open(pipe, "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8, np.uint8), "rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    data = pipe.data
    segment = data.find(b"\x18\x53\x80\x67") + 4
    assert data[segment : segment + 8] == b"\x01" + b"\xff" * 7  # its size: unknown
    cluster = data.find(b"\x1f\x43\xb6\x75") + 4
    length = 9 - data[cluster].bit_length()
    data[cluster : cluster + length] = bytes([0xFF >> (length - 1)]) + b"\xff" * (length - 1)
    (tmp_path / "live.mkv").write_bytes(data)
    assert _written_or_refused(tmp_path / "live.mkv", tmp_path) == "30 frames written"
    # The cluster's first block (after its CRC and timestamp) with its ID damaged: nothing
    # says where this cluster ends now.
    from veil.media import matroska

    walk = matroska._Walk(memoryview(bytes(data)), len(data))
    block = cluster + length
    while data[block] != matroska.SIMPLE_BLOCK:
        block = walk.element(block, len(data))[2]
    data[block] = 0xA2
    (tmp_path / "damaged.mkv").write_bytes(data)
    assert "structure breaks" in _written_or_refused(tmp_path / "damaged.mkv", tmp_path)
