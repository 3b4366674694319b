"""Recall on real annotated photos: a regression guard on a slice of the WIDER dev set.

The full figures come from bench/recall.py; this checks every 12th dev photo with the
default profile, scored from the rendered output the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import veil  # noqa: E402
from conftest import shared  # noqa: E402
from wider import Tally, load_dev  # noqa: E402


def test_default_profile_protects_faces_on_a_dev_slice(tmp_path: Path) -> None:
    tally = Tally()
    dev = shared("wider-dev")
    for i, rec in enumerate(load_dev(dev, every=12)):
        src = dev / "images" / rec["file"]
        dst = tmp_path / f"{i}.png"
        veil.anonymize_file(src, dst, veil.Options(encode=veil.EncodeOptions(format="png")))
        masked = (np.asarray(Image.open(dst).convert("RGB")) == 0).all(axis=2)
        ignore = (np.asarray(Image.open(src).convert("RGB")) == 0).all(axis=2)
        tally.add(rec, masked, ignore)
    # Measured 2026-11 on this slice; the full dev set's figures are in the README.
    assert tally.share("12-24") >= 0.94
    for bucket in ("24-48", "48-96", ">=96"):
        assert tally.share(bucket) >= 0.97, (bucket, tally.share(bucket))
    assert tally.nonface_share <= 0.12
