"""Opening onnxruntime sessions the same way for every model: threads and providers."""

from __future__ import annotations

from typing import Any


def make_session(model: bytes | str, threads: int = 0) -> Any:
    """An onnxruntime session on CUDA where present, else the CPU; `threads` 0 = ort's default."""
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
