"""The GPU backend and the many-core video path: what runs here without a GPU (the resize
that matches cv2's, the batching, a video in parts on a host with many cores, the one-line
refusal of --device cuda), and the GPU backend's boxes against onnxruntime's on dev photos,
on a CUDA GPU where there is one, else through torch on the CPU where torch is installed."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

import veil
from conftest import run_veil, shared, write_clip
from veil.detect.base import iou_matrix
from veil.detect.gpu import Batcher, cuda_available, resize_weights, torch_installed


@pytest.mark.parametrize(("source", "target"), [(1080, 720), (1920, 1280), (1024, 512),
                                                (1000, 371), (360, 540), (64, 77)])
def test_resize_weights_are_cv2s_resize(source: int, target: int) -> None:
    """The GPU resizes frames by these matrices: within cv2's own rounding of its result."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (source, 40, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (5, 5), 1.5)  # photo-like, not pure noise
    by_cv2 = cv2.resize(image, (40, target), interpolation=cv2.INTER_AREA
                        if target < source else cv2.INTER_LINEAR).astype(np.float32)
    ours = np.einsum("ts,swc->twc", resize_weights(source, target), image.astype(np.float32))
    assert np.abs(np.round(ours) - by_cv2).max() <= 1.0


def test_batcher_answers_each_caller_with_its_own_result() -> None:
    """Requests from many threads, of two kinds, run in batches of one kind; each caller
    gets its own answer, and a failing batch fails only its own callers."""
    sizes: list[int] = []

    def run_batch(key: object, items: list[int]) -> list[int]:
        time.sleep(0.01)  # the GPU is busy: more requests queue meanwhile
        if key == "bad":
            raise ValueError("broken")
        sizes.append(len(items))
        return [item * (2 if key == "double" else 3) for item in items]

    batcher = Batcher(run_batch, max_batch=8)
    answers: dict[int, object] = {}

    def call(i: int) -> None:
        key = "bad" if i % 10 == 9 else ("double" if i % 2 else "triple")
        try:
            answers[i] = batcher.submit(key, i)
        except ValueError as exc:
            answers[i] = str(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for i in range(60):
        expected = "broken" if i % 10 == 9 else i * (2 if i % 2 else 3)
        assert answers[i] == expected
    assert max(sizes) > 1 and max(sizes) <= 8


def test_device_cuda_without_a_gpu_is_a_one_line_error(tmp_path: Path,
                                                       example_jpeg: bytes) -> None:
    if cuda_available():
        pytest.skip("this machine has a CUDA GPU")
    src = tmp_path / "p.jpg"
    src.write_bytes(example_jpeg)
    done = run_veil(src, "--device", "cuda")
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "--device cuda" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jpg"]
    assert veil.resolve_device("auto") == "cpu"
    assert veil.resolve_device("cpu") == "cpu"
    with pytest.raises(veil.SetupError, match="unknown device"):
        veil.resolve_device("tpu")


def test_a_gpu_run_encodes_with_nvenc_where_the_card_has_it(tmp_path: Path,
                                                             example_jpeg: bytes) -> None:
    """On a GPU (device cuda), libx264's NVENC twin writes the video where the card has
    NVENC (T4, L4, A10, RTX); elsewhere (H100, H200, a CPU host) libx264 does, as asked. Where
    NVENC opens, a video in parts is written by it, whole and joined."""
    from veil.media.encoders import encoder_for

    asked = veil.EncodeOptions()
    try:
        veil.check_encoder(veil.EncodeOptions(codec="h264_nvenc"))
        nvenc_here = True
    except veil.VeilError as exc:
        assert str(exc).count("\n") == 0 and "h264_nvenc" in str(exc)
        nvenc_here = False
    assert encoder_for(asked, "cpu", (1920, 1080)) == asked
    assert encoder_for(asked, "cuda", (1920, 1080)).codec == ("h264_nvenc" if nvenc_here
                                                              else "libx264")
    assert encoder_for(asked, "cuda", (7680, 4320)) == asked  # past H.264 NVENC's 4096
    if not nvenc_here:
        pytest.skip("no NVENC here (no NVIDIA card with it, or no driver)")
    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    clip = write_clip(tmp_path / "clip.mp4", sheet, frames=150, size=(480, 256), sound=True)
    options = veil.Options(encode=veil.EncodeOptions(codec="h264_nvenc"))
    _, report = veil.anonymize_video(clip, tmp_path / "out.mp4", options, threads=8)
    assert report.faces and report.output_format == "mp4/h264_nvenc"
    with av.open(str(clip)) as a, av.open(str(tmp_path / "out.mp4")) as b:
        assert b.streams.video[0].codec_context.name == "h264" and b.streams.audio
        times = [(x.pts, y.pts) for x, y in zip(a.decode(video=0), b.decode(video=0),
                                                 strict=True)]
    assert len(times) == 150 and all(x == y for x, y in times)


def test_a_host_with_many_cores_works_on_a_video_in_parts(tmp_path: Path,
                                                          example_jpeg: bytes) -> None:
    """On 8 cores or more, both passes run on parts of the video at once: the plan, the
    frames, their times and the sound are the whole run's (at 30 fps, where most frames
    fall between two milliseconds: parts had started up to 1 ms early)."""
    assert veil.video_spans(150, 2) == [(0, 128), (128, None)]  # detection: on SPAN_ALIGN
    assert veil.video_spans(150, 2, veil.PART_ALIGN) == [(0, 80), (80, None)]  # rendering
    assert veil.video_spans(150, 1) == [(0, None)]
    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    clip = write_clip(tmp_path / "clip.mp4", sheet, frames=150, fps=30, size=(480, 256),
                      sound=True)
    whole_plan, whole = veil.anonymize_video(clip, tmp_path / "whole.mp4", threads=1)
    split_plan, split = veil.anonymize_video(clip, tmp_path / "split.mp4", threads=8)
    assert whole.faces and split_plan.to_json() == whole_plan.to_json()
    assert veil.plan_video(clip, threads=8).to_json() == whole_plan.to_json()  # pass one alone
    assert split.faces == whole.faces and split.masks == whole.masks
    # both passes at once: two of the four parts rendered while the last span was detected
    # (and rendered again if what came later changed their masks: the output is the same)
    assert split.passes is not None and whole.passes is None
    again = split.passes.pop("parts_rendered_again")
    assert split.passes == {"spans": 3, "parts": 4, "parts_rendered_early": 2} and again <= 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "split.mp4", "whole.mp4"]
    with av.open(str(tmp_path / "whole.mp4")) as a, av.open(str(tmp_path / "split.mp4")) as b:
        pairs = list(zip(a.decode(video=0), b.decode(video=0), strict=True))
        assert a.streams.audio and b.streams.audio
    assert len(pairs) == 150
    for x, y in pairs:
        assert x.pts == y.pts
        diff = np.abs(x.to_ndarray(format="rgb24").astype(int) -
                      y.to_ndarray(format="rgb24").astype(int))
        assert diff.mean() < 3 and np.percentile(diff, 99.5) < 48  # masks in both


def test_a_daemon_process_works_on_a_video_whole(tmp_path: Path, example_clip: Path) -> None:
    """A multiprocessing.Pool's workers (and the service's) are daemon processes, which may
    not start the processes parts are rendered on: on 8 cores or more every video they
    were given failed (AssertionError). They render it whole."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        _, report = pool.apply(veil.anonymize_video, (example_clip, tmp_path / "out.mp4"),
                               {"threads": 8})
    assert report.status == "ok" and report.passes is None
    assert (tmp_path / "out.mp4").stat().st_size > 0


def test_the_command_works_on_a_video_in_parts_too(tmp_path: Path, example_clip: Path) -> None:
    """`veil` runs each video in a process of its own, which on 8 cores or more starts the
    processes of the parts: a daemon process may not, and every video failed there."""
    report = tmp_path / "r.json"
    res = run_veil(example_clip, "-o", tmp_path / "out.mp4", "--report", report,
                   "--threads", "8", "--no-audit", "-q")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert json.loads(report.read_text())["files"][0]["passes"]["parts"] > 1


def test_a_video_that_stops_decoding_midway_fails_the_same_in_parts(
        tmp_path: Path, example_jpeg: bytes) -> None:
    """A clip damaged past its middle fails as it does on a small host, naming the frame
    where decoding stopped, with both passes at once: no output, no part left behind."""
    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    data = bytearray(write_clip(tmp_path / "clip.mp4", sheet, frames=160,
                                size=(480, 256)).read_bytes())
    at = int(len(data) * 0.6)
    data[at:at + 4000] = bytes(4000)
    (tmp_path / "clip.mp4").write_bytes(bytes(data))
    errors = []
    for threads in (1, 8):
        with pytest.raises(veil.InputError, match=r"video stops decoding at frame \d+") as caught:
            veil.anonymize_video(tmp_path / "clip.mp4", tmp_path / "out.mp4", threads=threads)
        errors.append(str(caught.value))
        assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    assert errors[0] == errors[1] and "at frame 0:" not in errors[0]


def test_the_gpu_schedule_splits_a_video_on_any_sideways_keyframe(tmp_path: Path,
                                                                  example_jpeg: bytes) -> None:
    """The GPU's schedule starts afresh at every 8th frame (its turned views are whole
    there), so its spans start there, not every 64th: the plan is the whole run's."""
    from veil.pipeline.schedule import GPU_SCHEDULE, ScheduleOptions
    from veil.pipeline.video import span_align

    assert span_align(GPU_SCHEDULE) == 8 and span_align(ScheduleOptions()) == 64
    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    clip = write_clip(tmp_path / "clip.mp4", sheet, frames=150, size=(480, 256))
    models = dataclasses.replace(veil.load_video_models(), schedule=GPU_SCHEDULE)
    whole = veil.plan_video(clip, models=models, threads=1)
    assert whole.tracks and veil.plan_video(clip, models=models, threads=8) == whole  # at 80
    _, report = veil.anonymize_video(clip, tmp_path / "out.mp4", models=models, threads=8)
    assert report.passes is not None and report.passes["parts_rendered_again"] <= 2
    assert report.passes["spans"] == report.passes["parts"] == 4  # spans of 40 frames, not 64
    assert report.passes["parts_rendered_early"] == 2


def test_the_plan_so_far_is_the_plan_of_the_spans_so_far(tmp_path: Path,
                                                          example_jpeg: bytes) -> None:
    """Made a span at a time (a track that can go on no longer made into a mask once), the
    plan is join_spans' plan of the same spans, after each of them."""
    from veil.pipeline.both_passes import PlanSoFar
    from veil.pipeline.schedule import GPU_SCHEDULE

    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    clip = write_clip(tmp_path / "clip.mp4", sheet, frames=120, size=(480, 256), pan=24)
    models = dataclasses.replace(veil.load_video_models(), schedule=GPU_SCHEDULE)
    options = veil.Options()
    spans = [veil.detect_video_span(clip, models, a, b, options)
             for a, b in veil.video_spans(120, 5, 8)]
    so_far = PlanSoFar(options.detect.min_score)
    for k, span in enumerate(spans):
        so_far.add(span)
        assert so_far.plan().to_json() == veil.join_spans(spans[:k + 1], options).to_json()
    assert so_far.closed and len(so_far.linker.tracks) > len(so_far.linker.active)


def test_a_part_rendered_early_from_a_plan_that_changed_is_rendered_again(
        tmp_path: Path, example_jpeg: bytes) -> None:
    """Parts rendered from the plan so far are kept only where every frame's regions, as
    drawn, are the whole plan's; the others are rendered again, so the output is the one
    the two passes in turn write."""
    from veil.pipeline.both_passes import _Parts, drawn_by_frame, plan_piece

    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    clip = write_clip(tmp_path / "clip.mp4", sheet, frames=120, size=(480, 256))
    options = veil.Options(mask=veil.MaskOptions(style="solid"))
    plan = veil.plan_video(clip, options)
    assert all(drawn_by_frame(plan, options.mask)[40:80])  # faces in the second part
    so_far = plan_piece(plan, 0, 120)
    for track in so_far.tracks:  # the plan so far had not yet seen the second part's faces
        track.boxes = {f: b for f, b in track.boxes.items() if not 40 <= f < 80}
    bounds = [(0, 40), (40, 80), (80, None)]
    out = tmp_path / "out.mp4"
    with _Parts(clip, out, options, bounds, workers=2, threads=1) as parts:
        parts.render_early(so_far, settled=80)
        assert parts.waiting(120) == [] and parts.early == 2
        stats, masked = parts.finish(plan) or (None, 0)
    assert parts.redone == 1 and stats is not None and stats.frames == 120
    veil.anonymize_video(clip, tmp_path / "whole.mp4", options, plan=plan, threads=1)
    assert masked == sum(1 for regions in plan.regions_by_frame() if regions)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.mp4", "whole.mp4"]
    with av.open(str(out)) as a, av.open(str(tmp_path / "whole.mp4")) as b:
        for x, y in zip(a.decode(video=0), b.decode(video=0), strict=True):
            diff = np.abs(x.to_ndarray(format="rgb24").astype(int) -
                          y.to_ndarray(format="rgb24").astype(int))
            assert diff.mean() < 2 and np.percentile(diff, 99.9) < 48  # the same masks


needs_torch = pytest.mark.skipif(not torch_installed(),
                                 reason="torch and onnx2torch are not installed "
                                        "(pip install 'veil[gpu]')")
GPU = "cuda" if cuda_available() else "torch"  # torch: the GPU code on the CPU


@needs_torch
def test_graphs_run_on_a_few_batch_sizes_with_each_items_own_outputs() -> None:
    """A batch is padded to the next of BATCH_SIZES (each new input shape costs the GPU a
    first call of about a second) and answers as its items alone would; RetinaFace and
    CenterFace each run on one trace for every input size."""
    from veil.detect.gpu import BATCH_SIZES

    models = veil.load_video_models(device=GPU)
    centerface = _torch_session(models.detector)
    retinaface = _torch_session(models.auditor)
    assert BATCH_SIZES[0] == 1 and list(BATCH_SIZES) == sorted(BATCH_SIZES)
    for session in (centerface, retinaface):
        assert session.any_shape is not None  # one trace for every shape
        torch = session.torch
        batch = (torch.rand((3, 3, 96, 160), device=session.device) * 255).to(session.dtype)
        together = session.forward(batch)
        for i in range(3):
            alone = session.forward(batch[i : i + 1])
            for a, b in zip(together, alone, strict=True):
                assert a.shape[0] == 3 and float((a[i : i + 1] - b).abs().max()) < 1e-2


def _torch_session(detector: object) -> object:
    """The TorchSession under a detector's wrappers."""
    from veil.detect.gpu import TorchSession

    while not isinstance(getattr(detector, "session", None), TorchSession):
        detector = getattr(detector, "inner", None) or detector.members[0]  # type: ignore[attr-defined]
    return detector.session  # type: ignore[attr-defined]


@needs_torch
def test_gpu_backend_finds_what_onnxruntime_finds_on_dev_photos() -> None:
    """The balanced profile's plan on every 100th dev photo: each sure face (score 0.5 and
    up) found on one is found on the other, and the boxes cover about the same pixels."""
    dev = shared("wider-dev")
    import json

    records = json.loads((dev / "annotations.json").read_text())["images"][::100]
    on_cpu = veil.load_models("balanced", threads=1, device="cpu")
    on_gpu = veil.load_models("balanced", threads=1, device=GPU)
    assert on_gpu.backend.startswith("torch ")
    for rec in records:
        pixels = np.asarray(Image.open(dev / "images" / rec["file"]).convert("RGB"))
        one = veil.detect_image(pixels, on_cpu.detector, on_cpu.second_look)
        two = veil.detect_image(pixels, on_gpu.detector, on_gpu.second_look)
        for a, b in ((one, two), (two, one)):
            sure = np.array([[r.x1, r.y1, r.x2, r.y2] for r in a.regions if r.score >= 0.5])
            found = np.array([[r.x1, r.y1, r.x2, r.y2] for r in b.regions])
            if len(sure):
                assert len(found) and (iou_matrix(sure, found).max(axis=1) >= 0.7).all(), rec
        assert abs(len(one.regions) - len(two.regions)) <= max(2, 0.1 * len(one.regions))


@needs_torch
def test_gpu_backend_protects_a_video_as_onnxruntime_does(tmp_path: Path,
                                                          example_clip: Path) -> None:
    """The video schedule with its detectors on the GPU backend: the same faces tracked."""
    options = veil.Options()
    plans = {}
    for device in ("cpu", GPU):
        models = veil.load_video_models(device=device)
        plans[device], report = veil.anonymize_video(example_clip, tmp_path / f"{device}.mp4",
                                                     options, models=models)
        assert report.backend == models.backend
    sure = [[t for t in plan.tracks if t.score >= 0.5] for plan in plans.values()]
    assert len(sure[0]) == len(sure[1]) >= 3
    for a, b in zip(*sure, strict=True):
        assert set(a.boxes) == set(b.boxes)  # the same frames covered


def test_gpu_bench_runs_on_the_cpu(tmp_path: Path) -> None:
    """bench/gpu.py, the device machine's one run, works end to end (tiny, through torch on
    the CPU; skips without torch or the dev photos)."""
    if not torch_installed():
        pytest.skip("torch and onnx2torch are not installed (pip install 'veil[gpu]')")
    shared("wider-dev")
    import subprocess
    import sys

    bench = Path(__file__).parents[1] / "bench" / "gpu.py"
    done = subprocess.run([sys.executable, str(bench), "--device", "torch", "--sizes",
                           "320x192", "--seconds", "1", "--photos", "2"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "photos a second" in done.stdout and "end to end" in done.stdout
