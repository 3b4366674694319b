"""Photos in and out: decode to upright sRGB pixels, encode pixels only.

Only the formats in veil.formats are opened, each by its own Pillow plugin, whatever the
file's name says.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps

from .. import formats
from ..errors import InputError, RefusedError
from ..options import Limits
from .jxl import read_header
from .metadata import image_entries
from .pillow import c_stderr_silenced, pillow_guarded
from .whole import check_jpeg, check_png

try:  # HEIC/HEIF (iPhone) support; veil depends on it, but decode the rest without it.
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover
    pass
with contextlib.suppress(ImportError):  # JPEG XL: the import registers the plugin ("JXL")
    import pillow_jxl  # noqa: F401

_SRGB = ImageCms.createProfile("sRGB")
# Formats whose extra frames veil reads and covers (animations, TIFF pages); all frames
# together may hold this many times --max-megapixels.
ANIMATED = ("GIF", "PNG", "WEBP", "TIFF")
FRAMES_BUDGET = 4


@dataclass
class DecodedImage:
    """Upright 8-bit RGB or RGBA pixels and what decoding had to do to get them."""

    pixels: np.ndarray
    source_format: str  # what Pillow read ("MPO" for a JPEG with depth maps)
    format: formats.Format  # the row of the format table the bytes matched
    notes: list[str] = field(default_factory=list)
    # An animation or a multi-page file: every frame (the first is `pixels`), each shown for
    # durations[i] ms, the animation played `loop` times (0: for ever). None: one picture.
    frames: list[np.ndarray] | None = None
    durations: list[int] | None = None
    loop: int | None = None
    # The metadata the file carried, as (name, value) (media.metadata's entries): none of
    # it is written; the report lists the names, `veil inspect` the values.
    metadata: list[tuple[str, str]] = field(default_factory=list)

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] == 4


def decode_image(data: bytes, limits: Limits | None = None) -> DecodedImage:
    """Decode a photo to upright sRGB pixels; raise InputError with a one-line reason.

    Only a format in the table is opened, by its own Pillow plugin; the size is checked
    before pixels are allocated, and the data must hold every pixel the header declares.
    """
    limits = limits or Limits()
    if not data:
        raise InputError("empty file")
    sniffed = formats.sniff(data[: formats.HEAD_BYTES])
    if sniffed is None or sniffed.kind != "image":
        raise InputError(f"not an image veil can read: it takes {formats.accepted()}")
    if sniffed.name == "JXL":  # its plugin decodes every pixel as it opens the file
        _check_jxl(data, limits)
    try:
        with pillow_guarded(limits.max_pixels), c_stderr_silenced():
            img = Image.open(io.BytesIO(data), formats=sniffed.pillow)
            _check_header(img, limits)
            if sniffed.name == "JPEG":
                check_jpeg(data, limits.max_jpeg_scans)
            elif sniffed.name == "PNG":
                check_png(data)
            img.load()
            metadata = image_entries(img, data, sniffed.name)
            if getattr(img, "n_frames", 1) > 1 and sniffed.name in ANIMATED:
                decoded = _all_frames(img, sniffed)
            else:
                decoded = _normalise(img, str(img.format), sniffed)
            decoded.metadata = metadata
            return decoded
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise RefusedError(f"image too large: {exc}") from exc
    except Image.UnidentifiedImageError as exc:
        raise InputError(f"not a {sniffed.name} image veil can read (damaged header)") from exc
    except MemoryError as exc:
        raise InputError("image too large to decode in the available memory") from exc
    except Exception as exc:  # noqa: BLE001 - whatever a decoder raises on this file is its fault
        # libjxl's binding says the same for every damaged file, and asks for a debug build
        words = "libjxl cannot decode it" if sniffed.name == "JXL" else _first_line(exc)
        raise InputError(f"corrupt or truncated image: {words}") from exc


def _check_jxl(data: bytes, limits: Limits) -> None:
    """Refuse a JPEG XL file over the size limit, or animated (its plugin would keep the
    last frame alone), from its header: before any pixel is decoded."""
    header = read_header(data)
    _check_size(header.width, header.height, limits)
    if header.animated:
        raise RefusedError("animated JPEG XL: veil would keep only one frame")


def _check_size(width: int, height: int, limits: Limits) -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"image header declares an empty {width}x{height} image")
    if width * height > limits.max_pixels:
        raise RefusedError(
            f"image is {width}x{height} ({width * height / 1e6:.0f} MP), over the "
            f"{limits.max_megapixels:g} MP limit (possible decompression bomb)"
        )


def _check_header(img: Image.Image, limits: Limits) -> None:
    """Refuse what the header alone shows is too large or not one picture."""
    width, height = img.size
    _check_size(width, height, limits)
    if img.format == "TIFF":
        _check_not_raw(img)
    frames = getattr(img, "n_frames", 1)
    # MPO and HEIF keep depth maps and bursts beside the primary photo: those are dropped.
    # Elsewhere extra frames are content a person meant to publish: every one is covered.
    if frames <= 1 or img.format in ("MPO", "HEIF"):
        return
    if img.format not in ANIMATED:
        raise RefusedError(f"{img.format} with {frames} frames: veil would keep only one")
    if frames > limits.max_frames or width * height * frames > FRAMES_BUDGET * limits.max_pixels:
        raise RefusedError(
            f"{img.format} with {frames} frames of {width}x{height}: over the limit of "
            f"{FRAMES_BUDGET * limits.max_megapixels:g} MP in all frames (--max-megapixels)"
        )


# TIFF tags: DNGVersion; NewSubfileType (bit 0: this image is a reduced copy); SubIFDs.
_DNG_VERSION, _NEW_SUBFILE_TYPE, _SUB_IFDS = 50706, 254, 330


def _check_not_raw(img: Image.Image) -> None:
    """Refuse a camera raw file in TIFF's clothes (DNG, Apple ProRAW, NEF, ARW...): Pillow
    reads its first image, a small preview, and the photo itself (the sensor's data, in a
    sub-image) would be lost without a word. (A CR2's images differ in size: refused as
    pages of several sizes.)"""
    tags = getattr(img, "tag_v2", {})
    reduced = int(tags.get(_NEW_SUBFILE_TYPE, 0) or 0) & 1
    if _DNG_VERSION in tags or reduced or _SUB_IFDS in tags:
        kind = "DNG" if _DNG_VERSION in tags else "raw"
        raise RefusedError(f"a camera {kind} file: veil would read only its small preview; "
                           "export the photo as JPEG or TIFF first")


def _all_frames(img: Image.Image, sniffed: formats.Format) -> DecodedImage:
    """Every frame of an animation (as shown: Pillow composes each on the ones before) or
    every page of a TIFF, normalised like one picture; pages must share one size."""
    frames, durations = [], []
    first: DecodedImage | None = None
    for index in range(getattr(img, "n_frames", 1)):
        img.seek(index)
        img.load()
        if first is not None and img.size != (first.pixels.shape[1], first.pixels.shape[0]):
            raise RefusedError(f"{sniffed.name} pages differ in size: veil covers pages of one "
                               "size only")
        decoded = _normalise(img.copy(), str(img.format), sniffed)
        first = first or decoded
        durations.append(int(img.info.get("duration", 0) or 0))
        frames.append(decoded.pixels)
    assert first is not None
    if len({f.shape for f in frames}) > 1:  # alpha in some frames only
        frames = [_with_alpha(f) for f in frames]
    first.pixels, first.frames, first.durations = frames[0], frames, durations
    first.loop = img.info.get("loop") if sniffed.name != "TIFF" else None
    first.notes.append(f"{len(frames)} frames, each covered")
    return first


def _with_alpha(pixels: np.ndarray) -> np.ndarray:
    if pixels.shape[2] == 4:
        return pixels
    return np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), 255, np.uint8)], axis=2)


def has_frames(path: Path, fmt: formats.Format) -> bool:
    """Whether a file of a format that can hold frames holds several (read from its
    structure, pixels not decoded); False when it cannot tell (decoding will say why)."""
    if fmt.name not in ANIMATED:
        return False
    try:
        with pillow_guarded(0), c_stderr_silenced(), Image.open(path, formats=fmt.pillow) as img:
            return bool(getattr(img, "is_animated", False) or getattr(img, "n_frames", 1) > 1)
    except Exception:  # noqa: BLE001 - a damaged file: the engine refuses it with the reason
        return False


def encode_frames(
    frames: list[np.ndarray], fmt: formats.Format, durations: list[int], loop: int | None
) -> bytes:
    """Encode an animation or pages, pixels and timing only (no metadata), and check that
    the result reads back frame by frame at the right size."""
    if not fmt.frames or fmt.save is None:
        raise RefusedError(f"{fmt.name} holds one picture and this file has {len(frames)} "
                           "frames: choose --format webp, png, gif or tiff (or an -o name "
                           "ending in one)")
    images = [Image.fromarray(f) for f in frames]
    args: dict[str, object] = {**fmt.save, "save_all": True, "append_images": images[1:]}
    if fmt.name != "TIFF":
        args.update(duration=[max(d, 10) for d in durations], loop=loop or 0)
    if fmt.name == "GIF":
        args["disposal"] = 1  # every frame is whole: draw it over the last, never blank
    buf = io.BytesIO()
    images[0].save(buf, fmt.name, **args)
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as back:
        for index in range(getattr(back, "n_frames", 1)):
            back.seek(index)
            if back.size != images[0].size:
                raise InputError("output check failed: a frame's size differs from the input")
    return data


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _normalise(img: Image.Image, fmt: str, sniffed: formats.Format) -> DecodedImage:
    notes: list[str] = []
    icc = img.info.get("icc_profile")
    # Bake the EXIF orientation into the pixels: the output carries no EXIF to say it. JPEG
    # XL's own orientation is in its codestream, which libjxl applies, and its EXIF's is
    # ignored (as libjxl's djxl does), but for a JPEG it reconstructs (the plugin's `jpeg`).
    jxl_pixels = img.format == "JXL" and not getattr(img, "jpeg", False)
    orientation = 1 if jxl_pixels else img.getexif().get(0x0112, 1)
    if orientation not in (1, None):
        img = ImageOps.exif_transpose(img) or img
        notes.append(f"applied EXIF orientation {orientation} to the pixels")
    if img.mode == "F":
        img, icc = _from_floats(img, icc, notes)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.uint32)
        img = Image.fromarray(
            (arr >> 8).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
        )
        notes.append("reduced 16-bit samples to 8 bits")
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if img.mode == "CMYK" and not icc:
        notes.append("converted CMYK to RGB without a profile")
    target = "RGBA" if has_alpha else "RGB"
    if icc:
        img, note = _to_srgb(img, icc, target)
        if note:
            notes.append(note)
    if img.mode != target:  # convert() copies even to the same mode: 4 bytes a pixel
        img = img.convert(target)
    pixels = np.asarray(img)  # read-only, one copy of the pixels (rendering works on another)
    if has_alpha:
        # Fully transparent pixels still store colour that any editor can reveal.
        hidden = pixels[..., 3] == 0
        if hidden.any() and pixels[hidden, :3].any():
            pixels = pixels.copy()
            pixels[hidden, :3] = 0
            notes.append("cleared colour stored under fully transparent pixels")
    return DecodedImage(pixels=pixels, source_format=fmt, format=sniffed, notes=notes)


def _from_floats(img: Image.Image, icc: bytes | None,
                 notes: list[str]) -> tuple[Image.Image, bytes | None]:
    """Grey float samples as 8 bits, and the profile still to apply. JPEG XL's (and most
    float TIFFs') run from 0 to 1, in linear light where its profile says so: the profile's
    curve is applied before the samples become 8 bits (after, the darkest tones would be a
    few steps), read off LittleCMS at the 256 grey levels and interpolated between them
    (unoptimised: its 8-bit shortcut put linear 1/255 at 6 where sRGB has 13)."""
    samples = np.nan_to_num(np.asarray(img, np.float32))
    levels = samples * (255.0 if samples.max(initial=0.0) <= 1.0 else 1.0)
    notes.append("reduced floating-point samples to 8 bits")
    if icc:
        ramp = Image.fromarray(np.arange(256, dtype=np.uint8)[None])
        shown, note = _to_srgb(ramp, icc, "RGB", ImageCms.Flags.NOOPTIMIZE)
        if note and shown.mode == "RGB":
            levels = np.interp(levels, np.arange(256), np.asarray(shown)[0, :, 1])
            notes.append(note)
            icc = None
    return Image.fromarray(np.clip(levels + 0.5, 0, 255).astype(np.uint8)), icc


# Modes whose pixels LittleCMS converts as they are: a grey or a CMYK profile describes the
# pixels before they become RGB, and cannot be applied after.
_CMS_MODES = ("L", "CMYK", "RGB", "RGBA")
_UNREADABLE = "ignored an unreadable ICC profile (assumed sRGB)"


def _to_srgb(img: Image.Image, icc: bytes, target: str,
             flags: ImageCms.Flags = ImageCms.Flags.NONE) -> tuple[Image.Image, str | None]:
    """The image in sRGB by its embedded ICC profile (in `target` mode where converted), and
    what was done: converted as it is, else once in `target` mode (a grey photo carrying
    an RGB profile); a profile that fits neither, or cannot be read, is ignored."""
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(src).strip().lower():
            return img, None
    except (ImageCms.PyCMSError, OSError):
        return img, _UNREADABLE
    for pixels in _cms_inputs(img, target):
        try:
            converted = ImageCms.profileToProfile(
                pixels, src, _SRGB, outputMode="RGB" if pixels.mode == "L" else target,
                flags=flags)
        except (ImageCms.PyCMSError, OSError):
            continue
        return converted or pixels, "converted colours from the embedded ICC profile to sRGB"
    return img, _UNREADABLE


def _cms_inputs(img: Image.Image, target: str) -> Iterator[Image.Image]:
    """The image as LittleCMS may take it with its profile: as it is, then in `target`."""
    if img.mode in _CMS_MODES:
        yield img
    if img.mode != target:
        yield img.convert(target)


def output_format(source: formats.Format, requested: str | None) -> formats.Format:
    """The format to write: the user's choice (--format), else what the input is written as."""
    if requested:
        try:
            return formats.by_choice(requested)
        except KeyError as exc:
            raise InputError(f"unsupported output format {requested!r}") from exc
    return formats.by_name(source.written_as)


def encode_image(pixels: np.ndarray, fmt: formats.Format) -> tuple[bytes, list[str]]:
    """Encode pixels alone: no EXIF, XMP, IPTC, ICC, comments or thumbnails are written."""
    if fmt.save is None:  # pragma: no cover - output_format only returns formats veil writes
        raise InputError(f"cannot write {fmt.name}")
    notes: list[str] = []
    img = Image.fromarray(pixels)
    if img.mode == "RGBA" and fmt.name == "JPEG":
        flat = Image.new("RGB", img.size, (255, 255, 255))
        flat.paste(img, mask=img.getchannel("A"))
        img = flat
        notes.append("JPEG has no transparency: flattened onto white")
    buf = io.BytesIO()
    img.save(buf, fmt.name, **fmt.save)
    return buf.getvalue(), notes
