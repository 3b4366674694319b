"""The GPU backend: the same ONNX graphs run by torch on a CUDA GPU (converted by onnx2torch,
traced by TorchScript), in float16 with channels_last, with concurrent calls of one input
shape run as one batch.

Views of a whole frame or photo go to the GPU; parts of one (changed regions, follow crops,
close-ups of a candidate) go to the same graph on the CPU: they come in many sizes, each of
which would cost the GPU a trace. CenterFace's views are resized, padded and decoded into
boxes on the GPU, so only the uint8 pixels go up and only the boxes come back.

Torch on the CPU (detect.runtime's device "torch", which `--device` never offers) runs the
same code in float32: the tests compare it with onnxruntime where torch is installed and no
GPU is.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SetupError
from .base import Detections, nms
from .centerface import OUT_STRIDE, CenterFace
from .multiscale import resized

# Inputs with fewer pixels than this run on the CPU (a GPU call's fixed cost is about that
# of a 256 x 256 inference on one CPU core).
CPU_BELOW = 256 * 256
# Inputs are padded to a multiple of this on each side, CenterFace's stride, as on the CPU:
# padding further (to 128, so that views of about one size batch) changed which faint
# candidates were found near the padded edges (tests/test_gpu.py).
PAD_TO = 32
# Views of inputs this large (whole frames and photos) are resized on the GPU.
WHOLE_VIEW = 640 * 480
MAX_TRACES = 256  # a model's traces by input shape, at most (then the module itself)
MAX_BATCH = 32
# The graph runs on batches of these sizes only (a batch is padded up to the next): the first
# call at each new input shape cost about 1.4 s on the GPU host (cuDNN planning each
# convolution for it, by all signs; docs/gpu.md), and a video's batches come in every size.
BATCH_SIZES = (1, 2, 4, 8, 16, 32)


def torch_installed() -> bool:
    """Whether torch and onnx2torch are installed (without importing them)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("torch", "onnx2torch"))


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """A CUDA GPU that torch can use (False when torch is not installed). torch is imported
    only where an NVIDIA driver is: the import costs seconds, which every run on a machine
    with torch and no GPU would pay (bench/video.py saw it)."""
    if not nvidia_driver() or not torch_installed():
        return False
    import torch

    return bool(torch.cuda.is_available())


def nvidia_driver() -> bool:
    """Whether this machine has an NVIDIA driver loaded (its device files or its library)."""
    import ctypes.util
    import glob

    return bool(Path("/proc/driver/nvidia").exists() or glob.glob("/dev/nvidia[0-9]*")
                or ctypes.util.find_library("cuda"))


def gpu_name() -> str:
    import torch

    return str(torch.cuda.get_device_name(0))


@dataclass(eq=False)  # requests are told apart by identity, never by their arrays
class _Request:
    key: Hashable
    item: Any
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class Batcher:
    """Runs `run_batch(key, items)` on one thread for requests that arrive from many: the
    requests waiting when the GPU is free, of the first one's key, go as one batch. Nothing
    waits to fill a batch: batches grow while the previous one runs."""

    def __init__(self, run_batch: Callable[[Hashable, list[Any]], list[Any]],
                 max_batch: int = MAX_BATCH) -> None:
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.batches = self.items = 0  # counted for bench/gpu.py
        self.busy = 0.0  # seconds spent running batches
        self.waiting: list[_Request] = []
        self.ready = threading.Condition()
        threading.Thread(target=self._serve, name="veil-gpu", daemon=True).start()

    def submit(self, key: Hashable, item: Any) -> Any:
        request = _Request(key, item)
        with self.ready:
            self.waiting.append(request)
            self.ready.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def _serve(self) -> None:
        while True:
            with self.ready:
                while not self.waiting:
                    self.ready.wait()
                key = self.waiting[0].key
                batch = [r for r in self.waiting if r.key == key][: self.max_batch]
                taken = {id(r) for r in batch}
                self.waiting = [r for r in self.waiting if id(r) not in taken]
            began = time.perf_counter()
            try:
                results = self.run_batch(key, [r.item for r in batch])
                for request, result in zip(batch, results, strict=True):
                    request.result = result
            except BaseException as exc:  # noqa: BLE001 - handed to every caller
                for request in batch:
                    request.error = exc
            self.batches, self.items = self.batches + 1, self.items + len(batch)
            self.busy += time.perf_counter() - began
            for request in batch:
                request.done.set()


class TorchSession:
    """An ONNX graph on torch, with onnxruntime's `run(None, {name: array})`: inputs of
    WHOLE_VIEW pixels or more are batched on `device`, smaller ones (close-ups, in many
    sizes) run on `cpu` (an onnxruntime session of the same graph)."""

    def __init__(self, model: bytes, cpu: Any, device: str = "cuda") -> None:
        try:
            import onnx
            import torch
            from onnx2torch import convert
        except ImportError as exc:
            raise SetupError("the GPU backend needs torch and onnx2torch: pip install "
                             f"'veil[gpu]' ({exc})") from exc

        self.torch = torch
        self.device = torch.device(device)
        self.half = self.device.type == "cuda"
        self.dtype = torch.float16 if self.half else torch.float32

        def converted(graph: Any) -> Any:
            module = convert(_weights_named(graph)).eval().to(self.device)
            return (module.half() if self.half else module).to(memory_format=torch.channels_last)

        self.module = converted(onnx.load_from_string(model))
        shape_free = _shape_free(onnx.load_from_string(model))
        if shape_free is not None and self._same(converted(shape_free), self.module):
            self.module = converted(shape_free)
        self.cpu = cpu
        self.shapes: set[tuple[int, ...]] = set()  # the input shapes run, batch left out
        self.traced: dict[tuple[int, ...], Any] = {}
        self.any_shape = self._trace_any_shape()
        self.batcher = Batcher(self._run_batch)

    def run(self, _outputs: None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        (blob,) = feed.values()
        if blob.shape[0] != 1 or blob.shape[2] * blob.shape[3] < WHOLE_VIEW:
            return list(self.cpu.run(None, feed))
        # uploaded here, on the caller's thread: the batching thread only runs the graph
        return list(self.batcher.submit(("graph", blob.shape), self.upload(blob)))

    def forward(self, batch: Any) -> list[Any]:
        """The graph's outputs (float32, on the device) for an NCHW float32 batch on it, run
        padded to the next of BATCH_SIZES."""
        count = batch.shape[0]
        self.shapes.add(tuple(batch.shape[1:]))
        size = next((s for s in BATCH_SIZES if s >= count), count)
        if size > count:
            batch = self.torch.cat([batch, batch.new_zeros((size - count, *batch.shape[1:]))])
        with self.torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # onnx2torch's Slice indexes by list
            x = batch.contiguous(memory_format=self.torch.channels_last).to(self.dtype)
            with self.torch.jit.optimized_execution(False):  # see _module_for
                outputs = self._module_for(x)(x)
        return [o[:count].float() for o in _listed(outputs)]

    def warm(self) -> None:
        """Run each of BATCH_SIZES once at each input shape run so far (their first calls are
        slow on a GPU): for a benchmark's figures after its warm-up."""
        for shape in list(self.shapes):
            for size in BATCH_SIZES:
                self.forward(self.torch.zeros((size, *shape), device=self.device))

    def _module_for(self, x: Any) -> Any:
        """The module traced by TorchScript (which runs without the GIL: the module's own
        Python, op by op, waits on the GIL for each of its hundreds of steps while the
        other threads work, and ran 60 times slower for it); traced once where one trace
        serves every input size, else once per input shape; the module where tracing
        fails. Traces run unoptimised: on the GPU host TorchScript's optimiser gained nothing
        (1,149 frames a second against 1,169 at 1280x736) and adds its own work at each new
        input shape; the first call at a new shape is slow either way (BATCH_SIZES)."""
        if self.any_shape is not None:
            return self.any_shape
        key = tuple(x.shape)
        if key not in self.traced:
            if len(self.traced) >= MAX_TRACES:
                return self.module
            try:
                self.traced[key] = self._trace(x)
            except Exception:  # noqa: BLE001 - the module still runs, only slower
                return self.module
        return self.traced[key]

    def _trace(self, x: Any) -> Any:
        with self.torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.torch.jit.trace(self.module, x, check_trace=False)

    def _trace_any_shape(self) -> Any:
        """One trace for every input size, where it gives the module's outputs at another
        size and batch than it was traced at (CenterFace's graph: convolutions only); else
        None (RetinaFace's reshapes take their sizes from the input: traced per shape)."""
        torch = self.torch

        def probe(*shape: int) -> Any:
            x = torch.rand(shape, device=self.device) * 255
            return x.contiguous(memory_format=torch.channels_last).to(self.dtype)

        try:
            traced = self._trace(probe(1, 3, 64, 96))
            other = probe(2, 3, 96, 160)
            with torch.no_grad(), torch.jit.optimized_execution(False):
                same = _close(traced(other), self.module(other))
        except Exception:  # noqa: BLE001 - then traced per shape
            return None
        return traced if same else None

    def _same(self, module: Any, reference: Any) -> bool:
        """Whether `module` gives `reference`'s outputs at two input sizes (multiples of 32,
        as every caller pads to)."""
        torch = self.torch
        try:
            for shape in ((1, 3, 64, 96), (2, 3, 96, 160)):
                x = (torch.rand(shape, device=self.device) * 255).to(self.dtype)
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    if not _close(module(x), reference(x)):
                        return False
        except Exception:  # noqa: BLE001 - then the graph as it is
            return False
        return True

    def upload(self, array: np.ndarray) -> Any:
        with warnings.catch_warnings():  # read-only arrays: the tensor is only read
            warnings.simplefilter("ignore", UserWarning)
            tensor = self.torch.from_numpy(np.ascontiguousarray(array))
        if self.device.type == "cuda":
            tensor = tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor

    def _run_batch(self, key: Hashable, items: list[Any]) -> list[Any]:
        if key[0] == "graph":  # type: ignore[index]
            batch = self.torch.cat(items)
            outputs = [o.cpu().numpy() for o in self.forward(batch)]
            return [[o[i : i + 1] for o in outputs] for i in range(len(items))]
        parts: tuple[Any, ...] = key  # type: ignore[assignment]
        return centerface_batch(self, items, float(parts[1]), float(parts[2]))


def _listed(outputs: Any) -> list[Any]:
    return list(outputs) if isinstance(outputs, tuple | list) else [outputs]


def _close(outputs: Any, others: Any) -> bool:
    ours, theirs = _listed(outputs), _listed(others)
    return len(ours) == len(theirs) and all(
        a.shape == b.shape and float((a.float() - b.float()).abs().max()) < 1e-2
        for a, b in zip(ours, theirs, strict=True))


def _shape_free(model: Any) -> Any | None:
    """The graph with the sizes it computes from its input's shape made constants that hold
    at every input size padded to 32, or None where it computes none (RetinaFace's heads
    reshape to [batch, -1, k] and its feature pyramid doubles each level to the size of the
    next: traced as they are, the sizes of the traced input stay in the trace, and every
    photo's shape cost a trace of seconds). TorchSession keeps it only where it gives the
    graph's own outputs."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    made = {o: n for n in graph.node for o in n.output}
    constants = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node
                 if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    changed = False
    for node in graph.node:
        parts = made.get(node.input[1]) if node.op_type == "Reshape" else None
        if parts is not None and parts.op_type == "Concat" and len(parts.input) == 3 and all(
                i in constants for i in parts.input[1:]) and parts.input[0] not in constants:
            shape = [0, int(constants[parts.input[1]][0]), int(constants[parts.input[2]][0])]
            node.input[1] = f"veil_shape_{node.name}"
            graph.initializer.append(numpy_helper.from_array(np.array(shape, np.int64),
                                                             node.input[1]))
            changed = True
        sizes = made.get(node.input[3]) if node.op_type == "Resize" and len(node.input) == 4 \
            else None
        if sizes is not None and sizes.op_type == "Concat":
            node.input[2] = f"veil_twice_{node.name}"
            graph.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32),
                                                             node.input[2]))
            del node.input[3]
            changed = True
    if not changed:
        return None
    used = {o.name for o in graph.output}
    kept = []
    for node in reversed(list(graph.node)):  # the shape arithmetic no longer used
        if any(o in used for o in node.output):
            kept.append(node)
            used.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    onnx.checker.check_model(model)
    return model


def _weights_named(model: Any) -> Any:
    """The graph with each Identity of a weight replaced by a copy of the weight under the
    Identity's output name (onnx2torch looks a convolution's weights up by name; RetinaFace's
    export passes some through Identity nodes)."""
    import onnx

    weights = {w.name: w for w in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in weights:
            copy = onnx.TensorProto()
            copy.CopyFrom(weights[node.input[0]])
            copy.name = node.output[0]
            model.graph.initializer.append(copy)
        else:
            nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    for node in model.graph.node:  # extend() copied the nodes: change the graph's own
        _explicit_padding(node)
    return model


def _explicit_padding(node: Any) -> None:
    """SAME_UPPER padding, which onnx2torch does not take, written out where the stride is
    1 (then it does not depend on the input's size: k - 1 in all, the odd one at the end).
    The text detector's export has three such nodes."""
    attrs = {a.name: a for a in node.attribute}
    if "auto_pad" not in attrs or attrs["auto_pad"].s != b"SAME_UPPER":
        return
    kernel = list(attrs["kernel_shape"].ints)
    if any(s != 1 for s in attrs["strides"].ints) if "strides" in attrs else False:
        return
    begin = [(k - 1) // 2 for k in kernel]
    end = [k - 1 - b for k, b in zip(kernel, begin, strict=True)]
    node.attribute.remove(attrs["auto_pad"])
    import onnx

    node.attribute.append(onnx.helper.make_attribute("pads", begin + end))


def centerface_batch(session: TorchSession, images: list[Any], threshold: float,
                     scale: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """CenterFace on same-sized uint8 RGB images (H x W x 3 tensors on the device), each
    seen at `scale`: resized as multiscale.resized does, padded to PAD_TO and decoded into
    boxes in the images' own pixels (before clipping and NMS), on the device."""
    torch = session.torch
    height, width = images[0].shape[:2]
    with torch.inference_mode():
        x = torch.stack(images).permute(0, 3, 1, 2).float()
        if scale != 1.0:  # two matrix products, rounded as cv2's uint8 is
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
            rows = session.upload(resize_weights(height, size[0]))
            cols = session.upload(resize_weights(width, size[1]))
            x = torch.matmul(torch.matmul(rows, x), cols.T).round().clamp(0, 255)
        x = torch.nn.functional.pad(x, (0, (-x.shape[3]) % PAD_TO, 0, (-x.shape[2]) % PAD_TO))
        heat, sizes, offset = session.forward(x)[:3]
        b, ys, xs = torch.nonzero(heat[:, 0] > threshold, as_tuple=True)
        bh = torch.exp(sizes[b, 0, ys, xs]) * OUT_STRIDE
        bw = torch.exp(sizes[b, 1, ys, xs]) * OUT_STRIDE
        cy = (ys + offset[b, 0, ys, xs] + 0.5) * OUT_STRIDE
        cx = (xs + offset[b, 1, ys, xs] + 0.5) * OUT_STRIDE
        boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=1)
        found = torch.cat([boxes / scale, heat[b, 0, ys, xs][:, None], b[:, None].float()],
                          dim=1).cpu().numpy()
    out = []
    for i in range(len(images)):
        mine = found[found[:, 5] == i]
        out.append((mine[:, :4].astype(np.float32), mine[:, 4].astype(np.float32)))
    return out


@lru_cache(maxsize=32)
def resize_weights(source: int, target: int) -> np.ndarray:
    """The `target` x `source` matrix of cv2's resize along one axis: INTER_AREA to shrink
    (each output pixel the mean of the input it covers, pixels cut by its edges counted in
    part), INTER_LINEAR to grow (pixel centres matched, edges repeated)."""
    step = source / target
    weights = np.zeros((target, source), np.float32)
    for i in range(target):
        if step >= 1:
            start, end = i * step, min(source, (i + 1) * step)
            for j in range(int(np.floor(start)), int(np.ceil(end))):
                weights[i, j] = min(end, j + 1) - max(start, j)
            weights[i] /= weights[i].sum()
        else:
            at = max(0.0, (i + 0.5) * step - 0.5)
            left = min(int(np.floor(at)), source - 1)
            right, part = min(left + 1, source - 1), at - left
            weights[i, left] += 1 - part
            weights[i, right] += part
    return weights


class GpuCenterFace:
    """CenterFace with its views resized, padded and decoded on the GPU (batched with
    every other view of the same size); inputs under CPU_BELOW pixels once resized run on
    the CPU as CenterFace does. The same boxes as CenterFace, within float16's rounding."""

    name = "centerface"

    def __init__(self, threshold: float, session: TorchSession) -> None:
        self.threshold = threshold
        self.session = session
        self.on_cpu = CenterFace(threshold, session=session.cpu)

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_scaled(image, 1.0)

    def detect_scaled(self, image: np.ndarray, scale: float) -> Detections:
        """Boxes in `image`'s pixels for the view of it resized by `scale`: a whole frame
        or photo is resized on the GPU (frames of one video batch together); a part of one
        (a changed region, a close-up) runs on the CPU: parts come in many sizes, and each
        new size costs the GPU a trace."""
        height, width = image.shape[:2]
        if height * width < WHOLE_VIEW or height * width * scale * scale < CPU_BELOW:
            dets = self.on_cpu.detect(resized(image, scale))
            return Detections(dets.boxes / scale, dets.scores, dets.sources)
        pixels = self.session.upload(image[..., :3])  # on this thread, not the batcher's
        key = ("centerface", self.threshold, scale, pixels.shape)
        boxes, scores = self.session.batcher.submit(key, pixels)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        keep = nms(boxes, scores, 0.3)
        return Detections.of(boxes[keep], scores[keep], self.name)
