"""The video encoders veil writes with, each given --crf and --preset in its own terms, and
checked to open before any work is spent on a video.

On a GPU run (device cuda) libx264 and libx265 are replaced by NVIDIA's NVENC encoders
where the card has them: H100 and H200 cards have no NVENC, and there the check fails and
the software encoder runs across the host's cores, as on any CPU host.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from functools import lru_cache
from typing import Any

from ..errors import VeilError
from ..options import EncodeOptions

# The NVENC encoder that writes what each software encoder writes (the same codec).
NVENC = {"libx264": "h264_nvenc", "libx265": "hevc_nvenc"}
# The largest side each writes (NVIDIA's encoder support matrix, Turing and later); frames
# smaller than the probe's on a side stay on the CPU too, where they cost little.
NVENC_MAX = {"h264_nvenc": 4096, "hevc_nvenc": 8192}
# x264's presets as NVENC's, nearest by speed (our pairing): p1 (fastest) to p7 (best), p4
# NVENC's default as medium is x264's.
NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p1", "veryfast": "p2", "faster": "p3",
                 "fast": "p4", "medium": "p4", "slow": "p5", "slower": "p6",
                 "veryslow": "p7", "placebo": "p7"}
# x264's and x265's presets: checked before either opens, as on an unknown one each prints
# its own error line past FFmpeg's logging.
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow", "placebo")
# The highest --crf (NVENC: constant quality) each takes for the 8-bit frames veil writes:
# x264 and x265 clamp a higher one to 51 without a word, NVENC refuses it (libvpx and the
# AV1 encoders take up to 63, the option's own limit).
CRF_HIGHEST = {"libx264": 51, "libx265": 51, "h264_nvenc": 51, "hevc_nvenc": 51}
_PROBE_SIZE = 256  # the test frames' side: above the smallest frame any of these takes


def encoder_settings(options: EncodeOptions) -> dict[str, str]:
    """The encoder's own options for --crf and --preset. NVENC has no CRF: its constant
    quality (variable bit rate, no bit-rate cap) at the same number, on NVENC's own scale
    (not compared with x264's: no card lent to veil has NVENC)."""
    if options.codec.endswith("_nvenc"):
        return {"rc": "vbr", "cq": str(options.crf), "b": "0", "tune": "hq",
                "preset": NVENC_PRESETS.get(options.preset, options.preset)}
    settings = {"crf": str(options.crf), "preset": options.preset}
    if options.codec == "libx265":
        settings["x265-params"] = "log-level=error"  # else x265 prints 20 lines a video
    return settings


def check_encoder(options: EncodeOptions) -> None:
    """A one-line VeilError unless `options.codec` is a video encoder that opens here with
    these settings (it encodes a few small frames)."""
    reason = _fails_to_open(options.codec, options.crf, options.preset)
    if reason is not None:
        raise VeilError(f"--codec {options.codec} cannot write video here "
                        f"(--crf {options.crf} --preset {options.preset}): {reason}")


def encoder_for(options: EncodeOptions, device: str, size: tuple[int, int]) -> EncodeOptions:
    """`options` with the encoder that runs for frames of `size` (width, height): on a GPU
    (device cuda), the NVENC equivalent of the software encoder where the card has one and
    the frames are within its sizes; else as asked."""
    hardware = NVENC.get(options.codec) if device == "cuda" else None
    if (hardware is not None and min(size) >= _PROBE_SIZE and max(size) <= NVENC_MAX[hardware]
            and _fails_to_open(hardware, options.crf, options.preset) is None):
        return dataclasses.replace(options, codec=hardware)
    return options


@lru_cache(maxsize=32)
def _fails_to_open(codec: str, crf: int, preset: str) -> str | None:
    """Why the encoder does not open and encode a few grey frames (None: it does), once per
    process for each setting."""
    import av

    if codec in ("libx264", "libx265") and preset not in X264_PRESETS:
        return f"its presets are {', '.join(X264_PRESETS)}"
    if crf > CRF_HIGHEST.get(codec, crf):
        return f"its --crf runs from 0 to {CRF_HIGHEST[codec]}"
    try:
        context: Any = av.CodecContext.create(codec, "w")
    except (av.error.FFmpegError, ValueError):
        return "FFmpeg here has no encoder of that name"
    if context.type != "video":
        return f"it encodes {context.type}, not video"
    context.width = context.height = _PROBE_SIZE
    context.pix_fmt = "yuv420p"
    context.time_base = Fraction(1, 25)
    context.framerate = Fraction(25)
    context.options = encoder_settings(EncodeOptions(codec=codec, crf=crf, preset=preset))
    frame = av.VideoFrame(_PROBE_SIZE, _PROBE_SIZE, "yuv420p")
    for plane in frame.planes:
        plane.update(bytes([128]) * plane.buffer_size)
    try:
        for pts in range(3):
            frame.pts = pts
            context.encode(frame)
        context.encode(None)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        needs = " (NVENC needs an NVIDIA card that has it, and its driver)" if (
            codec.endswith("_nvenc")) else ""
        return error_words(exc).rstrip(".") + needs
    return None


def error_words(exc: BaseException) -> str:
    """FFmpeg's words for an error (PyAV's strerror), without the call that raised it, on
    one line."""
    return " ".join(str(getattr(exc, "strerror", None) or exc).split())
