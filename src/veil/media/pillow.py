"""Running Pillow on untrusted files: its guards set for one call, its noise kept off stderr."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator

from PIL import Image, ImageFile


@contextlib.contextmanager
def pillow_guarded(max_pixels: int) -> Iterator[None]:
    """Pillow's own bomb guard at veil's limit and truncated data refused, for this call only
    (both are Pillow globals: they are restored after, so a program that imports veil keeps
    its own settings). Pillow's warnings are silenced: veil reports its own one line."""
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Image.MAX_IMAGE_PIXELS = max(max_pixels, saved[0] or 0)
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


@contextlib.contextmanager
def c_stderr_silenced() -> Iterator[None]:
    """Keep C libraries (libtiff prints its errors itself) off stderr while decoding, so a
    damaged file costs one line there, veil's own."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to protect
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
