"""Photos in and out: decode to upright sRGB pixels, encode pixels only, write atomically."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps

from ..errors import InputError

try:  # HEIC/HEIF (iPhone) support; veil depends on it, but decode the rest without it.
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover
    pass

# Never hand half-decoded pixels on: a truncated file is an error, not a grey stripe.
ImageFile.LOAD_TRUNCATED_IMAGES = False

DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: above any phone photo, below a decompression bomb

# Pillow format name -> output format used when the user does not choose one.
KEEP_FORMAT = {
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "PNG": "PNG",
    "WEBP": "WEBP",
    "TIFF": "TIFF",
    "HEIF": "JPEG",
    "AVIF": "JPEG",
    "GIF": "PNG",
    "BMP": "PNG",
}
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif"}
FORMAT_NAMES = {
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "png": "PNG",
    "webp": "WEBP",
    "tif": "TIFF",
    "tiff": "TIFF",
}
# Files veil treats as photos when walking a folder (by extension; content is still sniffed).
PHOTO_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".jpe",
    ".png",
    ".webp",
    ".tif",
    ".tiff",
    ".heic",
    ".heif",
    ".hif",
    ".avif",
    ".gif",
    ".bmp",
}

_SRGB = ImageCms.createProfile("sRGB")


@dataclass
class DecodedImage:
    """Upright 8-bit RGB or RGBA pixels and what decoding had to do to get them."""

    pixels: np.ndarray
    source_format: str
    notes: list[str] = field(default_factory=list)

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] == 4


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode a photo to upright sRGB pixels; raise InputError with a one-line reason."""
    if not data:
        raise InputError("empty file")
    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, on huge images; we check the size ourselves first.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None
            img = Image.open(io.BytesIO(data))
            fmt = str(img.format)
            width, height = img.size
            if width * height > max_pixels:
                raise InputError(
                    f"image is {width}x{height} ({width * height / 1e6:.0f} MP), over the "
                    f"{max_pixels / 1e6:.0f} MP limit (possible decompression bomb)"
                )
            frames = getattr(img, "n_frames", 1)
            # MPO and HEIF keep depth maps and bursts beside the primary photo: those are
            # dropped. Elsewhere extra frames are content a person meant to publish.
            if frames > 1 and fmt not in ("MPO", "HEIF"):
                raise InputError(
                    f"{fmt} with {frames} frames: animated or multi-page images are not "
                    "supported yet (only one frame would be kept)"
                )
            img.load()
            return _normalise(img, fmt)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"image too large: {exc}") from exc
    except Image.UnidentifiedImageError as exc:
        raise InputError("not an image veil can read (unknown or unsupported format)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"corrupt or truncated image: {msg}") from exc
    except MemoryError as exc:
        raise InputError("image too large to decode in the available memory") from exc


def _normalise(img: Image.Image, fmt: str) -> DecodedImage:
    notes: list[str] = []
    icc = img.info.get("icc_profile")
    # Bake the EXIF orientation into the pixels: the output carries no EXIF to say it.
    orientation = img.getexif().get(0x0112, 1)
    if orientation not in (1, None):
        img = ImageOps.exif_transpose(img) or img
        notes.append(f"applied EXIF orientation {orientation} to the pixels")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.uint32)
        img = Image.fromarray(
            (arr >> 8).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
        )
        notes.append("reduced 16-bit samples to 8 bits")
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if img.mode == "CMYK" and not icc:
        notes.append("converted CMYK to RGB without a profile")
    img = img.convert("RGBA" if has_alpha else "RGB")
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            desc = ImageCms.getProfileDescription(src).strip()
            if "srgb" not in desc.lower():
                converted = ImageCms.profileToProfile(img, src, _SRGB, outputMode=img.mode)
                img = converted if converted is not None else img
                notes.append("converted colours from the embedded ICC profile to sRGB")
        except (ImageCms.PyCMSError, OSError):
            notes.append("ignored an unreadable ICC profile (assumed sRGB)")
    pixels = np.array(img)
    if has_alpha:
        # Fully transparent pixels still store colour that any editor can reveal.
        hidden = pixels[..., 3] == 0
        if hidden.any() and pixels[hidden, :3].any():
            pixels[hidden, :3] = 0
            notes.append("cleared colour stored under fully transparent pixels")
    return DecodedImage(pixels=pixels, source_format=fmt, notes=notes)


def output_format(source_format: str, requested: str | None) -> str:
    """The Pillow format to write: the user's choice, else the input's (HEIC becomes JPEG)."""
    if requested:
        try:
            return FORMAT_NAMES[requested.lower()]
        except KeyError as exc:
            raise InputError(f"unsupported output format {requested!r}") from exc
    return KEEP_FORMAT.get(source_format, "PNG")


def encode_image(pixels: np.ndarray, fmt: str) -> tuple[bytes, list[str]]:
    """Encode pixels alone: no EXIF, XMP, IPTC, ICC, comments or thumbnails are written."""
    notes: list[str] = []
    img = Image.fromarray(pixels)
    if img.mode == "RGBA" and fmt == "JPEG":
        flat = Image.new("RGB", img.size, (255, 255, 255))
        flat.paste(img, mask=img.getchannel("A"))
        img = flat
        notes.append("JPEG has no transparency: flattened onto white")
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=92, optimize=False)
    elif fmt == "PNG":
        # Level 1: a third of level 6's time for about 6% more bytes (bench/recall.py).
        img.save(buf, "PNG", compress_level=1)
    elif fmt == "WEBP":
        img.save(buf, "WEBP", quality=90, method=4)
    elif fmt == "TIFF":
        img.save(buf, "TIFF", compression="tiff_deflate")
    else:  # pragma: no cover - output_format only returns the above
        raise InputError(f"cannot write {fmt}")
    return buf.getvalue(), notes


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: no partial output ever exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".veil-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
