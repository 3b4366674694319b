"""A hostile-input corpus: clean seed files of every format veil reads, mutated the ways a
damaged or crafted file is (truncations, bit flips, length fields that lie, declared sizes far
above the data, repeated and removed segments), plus hand-made resource bombs.

Every case is named by its seed file and a number; the same name always gives the same bytes,
so a failure can be replayed:

    python tests/hostile.py                      # run the default corpus, print a summary
    python tests/hostile.py --images 2000 --videos 200 --bombs
    python tests/hostile.py --case png-rgb:1234  # replay one case, with its traceback
    python tests/hostile.py --case mkv-h264-aac:relabel-7
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

# A truncated photo must be refused, or decode to exactly the seed's pixels (the cut fell
# after the last pixel); a truncated video must be refused (every byte of a seed clip is
# inside a container box or element). Other mutations may decode to other pixels, as long as
# every pixel the header declares was in the data, and a video written must keep every frame
# of its seed clip ("short" otherwise: the demuxer skipped damage and lost frames).
TRUNCATING = ("truncate",)
SEED_FRAMES = 6  # in every seed clip
FAILURES = ("bug", "leak", "short")


@dataclass(frozen=True)
class Case:
    name: str  # seed:number, or bomb:what
    kind: str  # image | video
    data: bytes
    mutation: str
    seed: str


def _picture(width: int = 96, height: int = 64, seed: int = 7) -> Image.Image:
    """A small photo-like picture: gradients and noise, so encoders produce real data."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], -1)
    noise = rng.integers(-20, 21, base.shape)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def _save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def image_seeds() -> dict[str, bytes]:
    """One clean file per format and variant veil reads."""
    pic = _picture()
    rgba = pic.copy()
    rgba.putalpha(200)
    seeds = {
        "jpeg": _save(pic, "JPEG", quality=90),
        "jpeg-progressive": _save(pic, "JPEG", quality=90, progressive=True),
        # a phone's JPEG with a depth or gain map after it (MPF offsets to damage)
        "jpeg-mpo": _save(pic, "MPO", save_all=True, append_images=[pic.convert("L")]),
        "png-rgb": _save(pic, "PNG"),
        "png-rgba-interlaced": _save(rgba, "PNG", interlace=1),
        "png-palette": _save(pic.convert("P"), "PNG"),
        "png-16bit": _save(Image.fromarray(np.asarray(pic)[..., 0].astype(np.uint16) * 257), "PNG"),
        "webp-lossy": _save(pic, "WEBP", quality=80),
        "webp-lossless": _save(rgba, "WEBP", lossless=True),
        "tiff-deflate": _save(pic, "TIFF", compression="tiff_deflate"),
        "tiff-raw": _save(pic, "TIFF"),
        "gif": _save(pic.convert("P"), "GIF"),
        "bmp": _save(pic, "BMP"),
    }
    with contextlib.suppress(ImportError, KeyError, OSError):
        from pillow_heif import register_heif_opener

        register_heif_opener()
        seeds["heic"] = _save(pic, "HEIF", quality=80)
    with contextlib.suppress(KeyError, OSError):
        seeds["avif"] = _save(pic, "AVIF", quality=60)
    with contextlib.suppress(ImportError, KeyError, OSError):
        import pillow_jxl  # noqa: F401 - registers the plugin

        seeds["jxl"] = _save(pic, "JXL", quality=80)  # a bare codestream
        seeds["jxl-container-lossless"] = _save(rgba, "JXL", lossless=True, use_container=True)
    return {k: v for k, v in seeds.items() if v}


def _video(
    container: str, codec: str, frames: int = SEED_FRAMES, size: tuple[int, int] = (64, 48),
    audio: str | None = None,
) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        sound = out.add_stream(audio, rate=16_000) if audio else None
        stream = out.add_stream(codec, rate=Fraction(10))
        stream.width, stream.height = size
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        if sound is not None:
            _add_sound(out, sound, seconds=frames / 10)
        for i in range(frames):
            pic = np.asarray(_picture(size[0], size[1], seed=i))
            frame = av.VideoFrame.from_ndarray(pic, format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def _add_sound(out: object, stream: object, seconds: float) -> None:
    """A sine tone, encoded and muxed before the video (enough to test the audio path)."""
    import av

    rate = 16_000
    samples = (np.sin(np.arange(int(rate * seconds)) / 10) * 8000).astype(np.int16)
    fmt = "fltp" if stream.codec_context.name == "aac" else "s16"  # type: ignore[attr-defined]
    data = samples.astype(np.float32)[None] / 32768 if fmt == "fltp" else samples[None]
    frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
    frame.sample_rate = rate
    for packet in [*stream.encode(frame), *stream.encode()]:  # type: ignore[attr-defined]
        out.mux(packet)  # type: ignore[attr-defined]


def video_seeds() -> dict[str, bytes]:
    """One small clean clip per container veil reads, some with sound."""
    return {
        "mp4-h264-aac": _video("mp4", "libx264", audio="aac"),
        "mov-h264": _video("mov", "libx264"),
        "mkv-h264-aac": _video("matroska", "libx264", audio="aac"),
        "webm-vp9-opus": _video("webm", "libvpx-vp9", audio="libopus"),
        "avi-mjpeg-pcm": _video("avi", "mjpeg", audio="pcm_s16le"),
        "mov-h264-pcm": _video("mov", "libx264", audio="pcm_s16le"),  # a camera's
    }


# --- mutations --------------------------------------------------------------------------------


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(1, len(data))]


def _cut(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(0, len(data))
    return data[:start] + data[start + rng.randrange(1, max(2, len(data) // 8)) :]


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _overwrite(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    pos = rng.randrange(len(out))
    out[pos : pos + 4] = bytes(rng.choice([0x00, 0xFF, rng.randrange(256)]) for _ in range(4))
    return bytes(out[: len(data)])


def _lying_length(data: bytes, rng: random.Random) -> bytes:
    """A 16- or 32-bit field, big- or little-endian, set to a large value."""
    out = bytearray(data)
    pos = rng.randrange(0, max(1, min(len(out) - 4, 512)))  # headers live near the start
    value = rng.choice([0xFFFF, 0x7FFF, 0x4000, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 20])
    fmt = rng.choice([">I", "<I", ">H", "<H"])
    packed = struct.pack(fmt, value & (0xFFFF if fmt.endswith("H") else 0xFFFFFFFF))
    out[pos : pos + len(packed)] = packed
    return bytes(out)


def _repeat(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(0, len(data))
    piece = data[start : start + rng.randrange(1, 256)]
    return data[:start] + piece * rng.randint(2, 50) + data[start:]


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "truncate": _truncate,
    "cut": _cut,
    "flip": _flip,
    "overwrite": _overwrite,
    "lying-length": _lying_length,
    "repeat": _repeat,
}


def mutate(seed_name: str, seed: bytes, number: int) -> tuple[str, bytes]:
    """The `number`th mutation of a seed: the same arguments always give the same bytes."""
    rng = random.Random(f"{seed_name}:{number}")
    name = rng.choice(sorted(MUTATIONS))
    return name, MUTATIONS[name](seed, rng)


# --- relabelled data: one track's bytes put on another ------------------------------------
# A family of its own (cases named seed:relabel-N), so that the numbered cases above keep
# their bytes. What one damaged field does in each container: a Matroska block's track
# number, an MP4 chunk's offset, an AVI chunk's stream number. The judge then looks for the
# seed's video bytes in the output's sound.


def matroska_blocks(data: bytes | bytearray, track: int | None = None) -> list[int]:
    """Where each SimpleBlock's data (its track number first) starts in a Matroska file,
    of `track` only when given (one-byte track numbers, as FFmpeg writes them)."""
    def vint(pos: int, marker: bool) -> tuple[int, int]:
        length = 9 - data[pos].bit_length()
        value = data[pos] & (0xFF >> length if marker else 0xFF)
        for byte in data[pos + 1:pos + length]:
            value = value << 8 | byte
        return value, pos + length

    found: list[int] = []

    def walk(pos: int, end: int) -> None:
        while pos < end:
            ident, after_id = vint(pos, False)
            size, body = vint(after_id, True)
            if size == (1 << 7 * (body - after_id)) - 1:  # size unknown: to the parent's end
                size = end - body
            if ident in (0x18538067, 0x1F43B675):  # Segment, Cluster
                walk(body, min(body + size, end))
            elif ident == 0xA3 and (track is None or data[body] == 0x80 | track):
                found.append(body)
            pos = body + size

    walk(0, len(data))
    return found


def chunk_offsets(data: bytes) -> list[list[int]]:
    """Where each 32-bit chunk offset of each MP4 track's stco box lies."""
    tables, at = [], -1
    while (at := data.find(b"stco", at + 1)) >= 4:
        count = int.from_bytes(data[at + 8:at + 12], "big")
        if at + 12 + 4 * count <= len(data):
            tables.append([at + 12 + 4 * i for i in range(count)])
    return tables


def relabel(seed: bytes, rng: random.Random) -> bytes:
    """The seed with one piece of one track's data said to be another track's."""
    out = bytearray(seed)
    if seed.startswith(b"\x1a\x45\xdf\xa3"):
        blocks = matroska_blocks(seed)
        at = rng.choice(blocks)
        out[at] = 0x80 | (1 if seed[at] == 0x82 else 2)
    elif seed[:4] == b"RIFF":
        chunks = [m.start() for m in re.finditer(rb"0[01](dc|wb)", seed)]
        at = rng.choice(chunks)
        out[at + 1] = ord("1") if seed[at + 1] == ord("0") else ord("0")
    else:
        tables = chunk_offsets(seed)
        if len(tables) < 2:
            return _flip(seed, rng)
        one, other = rng.sample(tables, 2)
        out[(pos := rng.choice(one)):pos + 4] = seed[(src := rng.choice(other)):src + 4]
    return bytes(out)


def relabel_cases(count: int, seeds: dict[str, bytes], start: int = 0) -> Iterator[Case]:
    """`count` relabelled clips spread over the seeds with sound, numbered from `start`."""
    names = [n for n in sorted(seeds) if _has_sound(seeds[n])]
    for i in range(start, start + count):
        name = f"{names[i % len(names)]}:relabel-{i}"
        yield Case(name, "video", relabelled(name, seeds), "relabel", name.partition(":")[0])


def relabelled(name: str, seeds: dict[str, bytes]) -> bytes:
    seed_name = name.partition(":")[0]
    return relabel(seeds[seed_name], random.Random(name))


def _has_sound(data: bytes) -> bool:
    import av

    with av.open(io.BytesIO(data)) as container:
        return bool(container.streams.audio)


def cases(kind: str, count: int, seeds: dict[str, bytes], start: int = 0) -> Iterator[Case]:
    """`count` cases spread over the seeds, numbered from `start`."""
    names = sorted(seeds)
    for i in range(start, start + count):
        seed_name = names[i % len(names)]
        mutation, data = mutate(seed_name, seeds[seed_name], i)
        yield Case(f"{seed_name}:{i}", kind, data, mutation, seed_name)


# --- hand-made bombs --------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_short_rows(width: int = 800, declared: int = 100_000, real: int = 600) -> bytes:
    """A PNG whose header promises `declared` rows but whose data holds `real`."""
    raw = b"".join(b"\0" + bytes(width * 3) for _ in range(real))
    header = struct.pack(">IIBBBBB", width, declared, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def png_flat(width: int = 10_000, height: int = 9_999) -> bytes:
    """A one-colour PNG: tiny on disk, `width` x `height` pixels when decoded."""
    row = b"\0" + bytes(width * 3)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_lying_size(width: int = 9999, height: int = 10_000) -> bytes:
    """A 64x64 JPEG whose frame header says `width` x `height`."""
    data = bytearray(_save(_picture(64, 64), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def jpeg_repeated_scans(repeats: int = 500) -> bytes:
    """A progressive JPEG whose last scan is repeated `repeats` times."""
    data = _save(_picture(512, 512), "JPEG", progressive=True, quality=90)
    last = data.rfind(b"\xff\xda")
    scan, tail = data[last:-2], data[-2:]
    return data[:last] + scan * repeats + tail


def ico_named_png() -> bytes:
    """An ICO whose directory says 16x16 while its embedded PNG is 40000x40000."""
    png = png_short_rows(40_000, 40_000, 1)  # what Pillow's ICO plugin would decode on open
    entry = struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(png), 6 + 16)
    return struct.pack("<HHH", 0, 1, 1) + entry + png


def jxl_flat(width: int = 10_000, height: int = 10_000) -> bytes:
    """A one-colour JPEG XL: 31 KB on disk, `width` x `height` pixels when decoded (its
    plugin decodes them all as it opens the file)."""
    import pillow_jxl  # noqa: F401 - registers the plugin

    return _save(Image.new("RGB", (width, height), (90, 90, 90)), "JXL", lossless=True,
                 effort=1)


def mjpeg_huge_frames(side: int = 16_000, frames: int = 2) -> bytes:
    """An AVI of `frames` flat MJPEG frames, `side` x `side` pixels each."""
    import av

    jpeg = _save(Image.new("RGB", (side, side), (90, 90, 90)), "JPEG", quality=50)
    buf = io.BytesIO()
    with av.open(buf, "w", format="avi") as out:
        stream = out.add_stream("mjpeg", rate=Fraction(10))
        stream.width = stream.height = side
        stream.pix_fmt = "yuvj420p"
        for i in range(frames):
            packet = av.Packet(jpeg)
            packet.stream, packet.pts, packet.dts = stream, i, i
            out.mux(packet)
    return buf.getvalue()


BOMBS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "png-short-rows": ("image", png_short_rows),
    "png-flat-100mp": ("image", png_flat),  # over the default limit: refused at once
    "png-flat-64mp": ("image", lambda: png_flat(8000, 8000)),  # at the limit: processed
    "jpeg-lying-size": ("image", jpeg_lying_size),
    "jpeg-repeated-scans": ("image", jpeg_repeated_scans),
    "ico-named-png": ("image", ico_named_png),
    "jxl-flat-100mp": ("image", jxl_flat),  # over the limit: refused from its header
    "jxl-flat-64mp": ("image", lambda: jxl_flat(8000, 8000)),  # at the limit: processed
    "mjpeg-16000": ("video", mjpeg_huge_frames),
}


def bombs() -> Iterator[Case]:
    for name, (kind, make) in BOMBS.items():
        yield Case(f"bomb:{name}", kind, make(), "bomb", name)


# --- running the engine on a case -------------------------------------------------------------


@dataclass
class Outcome:
    case: str
    mutation: str
    result: str  # refused | written | bug | leak | short
    seconds: float
    detail: str = ""
    peak_mib: float = 0.0  # bombs: the peak memory of the process that ran it alone


def _pixels(data: bytes) -> np.ndarray | None:
    import veil.media.image as image

    try:
        return image.decode_image(data).pixels
    except Exception:  # noqa: BLE001 - a seed that does not decode has nothing to compare
        return None


def _frames(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size)


def _video_in_sound(seed: bytes, out: Path) -> bool:
    """Whether the output's sound holds 32 bytes from one of the seed's video frames (an
    unmasked picture copied as if it were sound)."""
    import av

    with av.open(io.BytesIO(seed)) as container:
        frames = [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]
    with av.open(str(out)) as container:
        streams = container.streams.audio
        sound = b"".join(bytes(p) for p in container.demux(*streams) if p.size) if streams else b""
    pieces = (frame[at:at + 32] for frame in frames for at in range(8, len(frame) - 32, 32))
    return bool(sound) and any(piece in sound for piece in pieces)


def run_case(case: Case, workdir: Path, seeds: dict[str, bytes]) -> Outcome:
    """Run one case through the engine as the CLI would, and judge what came out."""
    import time

    import veil
    from veil.errors import InternalError

    started = time.perf_counter()
    src = workdir / ("in" + (".mp4" if case.kind == "video" else ".img"))
    # Half the clips are written as Matroska, which copies any sound as it is (PCM, Vorbis).
    video_out = "out.mkv" if zlib.crc32(case.name.encode()) % 2 else "out.mp4"
    dst = workdir / (video_out if case.kind == "video" else "out.png")
    src.write_bytes(case.data)
    dst.unlink(missing_ok=True)
    try:
        if case.kind == "video":
            veil.anonymize_video(src, dst, threads=1)
            written = dst.read_bytes()
        else:
            written = veil.anonymize_image(case.data).data
    except InternalError as exc:
        return Outcome(case.name, case.mutation, "bug", time.perf_counter() - started, str(exc))
    except veil.VeilError as exc:
        seconds = time.perf_counter() - started
        one_line = "\n" not in str(exc) and str(exc).strip() != ""
        leftover = dst.exists()
        result = "refused" if one_line and not leftover else "bug"
        return Outcome(case.name, case.mutation, result, seconds, str(exc))
    except Exception as exc:  # noqa: BLE001 - exactly what the harness is looking for
        import traceback

        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return Outcome(case.name, case.mutation, "bug", time.perf_counter() - started, detail)
    seconds = time.perf_counter() - started
    if case.kind == "video" and case.mutation in TRUNCATING:
        return Outcome(case.name, case.mutation, "leak", seconds, "output from a cut video")
    if case.kind == "video" and (frames := _frames(dst)) < SEED_FRAMES:
        return Outcome(case.name, case.mutation, "short", seconds,
                       f"{frames} of the seed's {SEED_FRAMES} frames written")
    if case.kind == "video" and case.seed in seeds and _video_in_sound(seeds[case.seed], dst):
        return Outcome(case.name, case.mutation, "leak", seconds,
                       "the output's sound holds bytes of a video frame")
    if case.kind == "image" and case.mutation in TRUNCATING and case.seed in seeds:
        before, after = _pixels(seeds[case.seed]), _pixels(case.data)
        same = before is not None and after is not None and before.shape == after.shape
        if not (same and (before == after).all()):
            return Outcome(case.name, case.mutation, "leak", seconds, "output from a cut file")
    del written
    return Outcome(case.name, case.mutation, "written", seconds)


def _bomb_alone(name: str) -> Outcome:
    """A bomb in a process of its own, so that its peak memory is its own."""
    import json
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, __file__, "--case", f"bomb:{name}", "--json"],
        capture_output=True, text=True, timeout=600,
    )
    if res.returncode != 0:
        return Outcome(f"bomb:{name}", "bomb", "bug", 0.0, res.stderr.strip()[-300:])
    run = json.loads(res.stdout)
    outcome = Outcome(**run["outcomes"][0])
    outcome.peak_mib = run["peak_mib"]
    return outcome


def _peak_mib() -> float:
    """This process's peak memory. Linux's VmHWM, which starts again at exec: ru_maxrss
    carries over the parent's peak (a pytest process that held torch's models made the
    corpus look 2.5 GB heavy)."""
    import resource

    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    import argparse
    import json
    import sys
    import tempfile
    from collections import Counter

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=300, help="mutated image cases")
    ap.add_argument("--videos", type=int, default=30, help="mutated video cases")
    ap.add_argument("--relabels", type=int, default=10,
                    help="clips with one track's data said to be another's")
    ap.add_argument("--start", type=int, default=0, help="number of the first case")
    ap.add_argument("--bombs", action="store_true", help="add the hand-made bombs")
    ap.add_argument("--case", help="replay one case (seed:number or bomb:name)")
    ap.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    args = ap.parse_args()
    images, videos = image_seeds(), video_seeds()
    if args.case:
        seed, _, rest = args.case.partition(":")
        if seed == "bomb":
            kind, make = BOMBS[rest]
            todo = [Case(args.case, kind, make(), "bomb", rest)]
        elif rest.startswith("relabel-"):
            todo = [Case(args.case, "video", relabelled(args.case, videos), "relabel", seed)]
        else:
            pool = images if seed in images else videos
            mutation, data = mutate(seed, pool[seed], int(rest))
            todo = [Case(args.case, "image" if pool is images else "video", data, mutation, seed)]
    else:
        todo = [
            *cases("image", args.images, images, args.start),
            *cases("video", args.videos, videos, args.start),
            *relabel_cases(args.relabels, videos, args.start),
        ]
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in todo:
            outcomes.append(run_case(case, Path(tmp), {**images, **videos}))
    peak_mib = _peak_mib()
    if args.bombs and not args.case:
        outcomes.extend(_bomb_alone(name) for name in BOMBS)
    if args.json:
        print(json.dumps({"peak_mib": peak_mib, "outcomes": [vars(o) for o in outcomes]}))
        return
    for o in outcomes:
        if o.result in FAILURES or args.case or o.case.startswith("bomb:"):
            peak = f", peak {o.peak_mib:.0f} MiB" if o.peak_mib else ""
            print(f"{o.case} ({o.mutation}): {o.result} in {o.seconds:.2f} s{peak}: {o.detail}")
    counts = Counter(o.result for o in outcomes)
    slowest = max(outcomes, key=lambda o: o.seconds)
    print(
        f"{len(outcomes)} cases: {dict(counts)}; slowest {slowest.case} {slowest.seconds:.2f} s;"
        f" peak memory {peak_mib:.0f} MiB",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
