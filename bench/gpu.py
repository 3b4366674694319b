"""GPU benchmark: one self-contained run for a GPU host. In the same run it prints, for a
1080p and a 4K clip made from WIDER dev photos (as bench/video.py makes them), a plain
re-encode on that host, veil on the host's CPU and veil on its GPU, with each pass's frame
rate and bench/video.py's protection figures; then a folder of 1-megapixel photos on each.

    python bench/gpu.py --pack .gpu-data     # here: the slice of ../shared it needs
    # (bench/device.sh prepares and runs the whole device call: docs/gpu.md)
    VEIL_WIDER_DEV=.gpu-data/wider-dev python bench/gpu.py          # on the GPU host
    python bench/gpu.py --device torch --seconds 1 --photos 8 --sizes 640x360   # no GPU:
        # the GPU backend's code run by torch on the CPU (a check that the script runs)
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
import veil  # noqa: E402
from veil.media.video import encode_video  # noqa: E402
from veil.pipeline.schedule import ScheduleOptions  # noqa: E402
from video import DARK, make_clip, score  # noqa: E402
from wider import DEV, HEIGHT_BUCKETS, Tally, load_dev  # noqa: E402

MEGAPIXEL = 1_000_000


def pack(dest: Path, count: int) -> None:
    """Copy `count` dev photos (those bench/video.py's clips are made of first) and their
    annotations to dest/wider-dev."""
    records = load_dev()
    for_clips = [r for r in records if 3 <= len([f for f in r["faces"]
                                                   if f["box"][3] >= 16]) <= 40]
    chosen = for_clips[:: max(1, len(for_clips) // count)][:count]
    root = dest / "wider-dev"
    for rec in chosen:
        (root / "images" / rec["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEV / "images" / rec["file"], root / "images" / rec["file"])
    (root / "annotations.json").write_text(json.dumps({"images": chosen}))
    print(f"{len(chosen)} photos in {root}")


def host(device: str) -> None:
    import av
    import onnxruntime

    print(f"host: {os.cpu_count()} cores; onnxruntime {onnxruntime.__version__}, "
          f"PyAV {av.__version__}")
    models = veil.load_video_models(device=device)
    print(f"veil on the GPU: {models.backend}")


def model_alone(device: str, size: tuple[int, int] = (736, 1280)) -> None:
    """CenterFace's trace alone on the GPU, on batches of the sizes a video's batches come
    in: run unoptimised (as veil runs it) and optimised by TorchScript (which specialises
    the graph to each new batch size and compiles kernels for it), each batch timed."""
    session = _sessions(veil.load_video_models(device=device).detector)[0]
    torch = session.torch
    batches = [1, 4, 16, 3, 8, 2]
    for optimise in (False, True):
        rounds = []
        for _ in range(2):
            frames, began = 0, time.perf_counter()
            for batch in batches:
                x = torch.rand((batch, 3, *size), device=session.device) * 255
                x = x.contiguous(memory_format=torch.channels_last).to(session.dtype)
                with torch.no_grad(), torch.jit.optimized_execution(optimise):
                    session._module_for(x)(x)
                frames += batch
            if session.device.type == "cuda":
                torch.cuda.synchronize()
            rounds.append(f"{frames / (time.perf_counter() - began):.0f}")
        print(f"CenterFace alone at {size[1]}x{size[0]}, batches of {batches}, "
              f"{'optimised' if optimise else 'unoptimised'}: frames a second, first round "
              f"{rounds[0]}, second {rounds[1]}")


def first_calls(device: str) -> None:
    """What a new input shape costs CenterFace's converted module (eager, no TorchScript) on
    the GPU, its first call and its second, under settings that each could be what makes
    the first call slow (about 1.4 s on the H200 host, 2026-11-28): as veil runs it (float16,
    channels-last, cuDNN's defaults), cuDNN benchmarking, channels-first, float32 and cuDNN
    off. Each setting meets shapes no other has, so no cache carries over."""
    session = _sessions(veil.load_video_models(device=device).detector)[0]
    torch, module = session.torch, session.module
    settings = [("as veil runs it", {}), ("cudnn.benchmark", {"benchmark": True}),
                ("channels-first", {"layout": torch.contiguous_format}),
                ("float32", {"dtype": torch.float32}), ("cudnn off", {"enabled": False})]
    for k, (name, change) in enumerate(settings):
        dtype = change.get("dtype", session.dtype)
        layout = change.get("layout", torch.channels_last)
        net = module.to(dtype).to(memory_format=layout)
        times = []
        with torch.backends.cudnn.flags(enabled=change.get("enabled", True),
                                        benchmark=change.get("benchmark", False)):
            for shape in ((2, 3, 704 - 32 * k, 1280), (2, 3, 736, 1248 - 32 * k)):
                x = (torch.rand(shape, device=session.device) * 255).to(dtype)
                x = x.contiguous(memory_format=layout)
                for _ in range(2):
                    began = time.perf_counter()
                    with torch.no_grad():
                        net(x)
                    if session.device.type == "cuda":
                        torch.cuda.synchronize()
                    times.append(f"{1000 * (time.perf_counter() - began):.0f}")
        print(f"CenterFace eager, {name}: ms for a new shape's first and second call "
              f"{times[0]}/{times[1]}, another {times[2]}/{times[3]}")
    module.to(session.dtype).to(memory_format=torch.channels_last)


def first_call_layers(device: str, shape: tuple[int, ...] = (2, 3, 608, 1088)) -> None:
    """Where a new shape's first call goes, by layer type: each leaf layer of the converted
    CenterFace (eager, as veil runs it) timed on its own, the GPU synchronised before and
    after it, for the first call at a shape no other call has met and for the second."""
    session = _sessions(veil.load_video_models(device=device).detector)[0]
    torch, module = session.torch, session.module
    sync = torch.cuda.synchronize if session.device.type == "cuda" else (lambda: None)
    began: dict[int, float] = {}
    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    call = [0]

    def before(layer: object, _inputs: object) -> None:
        sync()
        began[id(layer)] = time.perf_counter()

    def after(layer: object, _inputs: object, _outputs: object) -> None:
        sync()
        spent[type(layer).__name__][call[0]] += time.perf_counter() - began[id(layer)]

    leaves = [m for m in module.modules() if not list(m.children())]
    hooks = [h for m in leaves for h in (m.register_forward_pre_hook(before),
                                         m.register_forward_hook(after))]
    x = (torch.rand(shape, device=session.device) * 255).to(session.dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    try:
        for call[0] in (0, 1):
            with torch.no_grad():
                module(x)
    finally:
        for hook in hooks:
            hook.remove()
    counts = Counter(type(layer).__name__ for layer in leaves)
    worst = sorted(spent.items(), key=lambda kv: -kv[1][0])[:5]
    print(f"CenterFace eager at a new shape {shape}, by layer type (count): ms in the first "
          "call / the second: " + ", ".join(
              f"{name} ({counts[name]}) {1000 * a:.0f}/{1000 * b:.0f}" for name, (a, b) in worst))


def decode_rates(clip: Path) -> str:
    """Frames a second that PyAV decodes the clip at (no conversion), on the CPU (frame
    threads) and through NVDEC (where the wheel and the card allow)."""
    import av

    rates = []
    for name, hw in (("CPU", None), ("NVDEC", "cuda")):
        try:
            accel = None if hw is None else av.codec.hwaccel.HWAccel(device_type=hw)
            began = time.perf_counter()
            with av.open(str(clip), hwaccel=accel) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                frames = sum(1 for _ in container.decode(stream))
            rates.append(f"{name} {frames / (time.perf_counter() - began):.0f}")
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            rates.append(f"{name}: {type(exc).__name__}: {exc}"[:120])
    return "decode alone, frames a second: " + "; ".join(rates)


def warm_up(folder: Path, size: tuple[int, int], device: str) -> None:
    """A second of video through the GPU run, untimed: the first calls of each shape."""
    clip = folder / "warm.mp4"
    make_clip(clip, size, 30, 1.0)
    models = veil.load_video_models(device=device)
    veil.anonymize_video(clip, folder / "warm-out.mp4", _options(device), models=models)
    for detector in (models.detector, models.auditor):
        for session in _sessions(detector):
            session.warm()  # every batch size at the shapes the clip's views had
    gpu_use(models, 1.0)  # counts from here


def _options(device: str, **flat: str) -> veil.Options:
    """Options for a run on `device` (torch: the GPU code on the CPU, through the models
    given; the options' own device is then cpu)."""
    return veil.Options.from_flat({"device": "cpu" if device == "torch" else device, **flat})


def gpu_use(models: veil.Models, seconds: float) -> str:
    """How the GPU run's batching threads spent `seconds` (counted since the last call)."""
    parts = []
    seen = set()
    for detector in (models.detector, models.auditor, models.second_look):
        for session in _sessions(detector):
            if id(session) in seen:
                continue
            seen.add(id(session))
            b = session.batcher
            parts.append(f"{b.batches} batches of {b.items / max(1, b.batches):.1f} on average, "
                         f"busy {100 * b.busy / seconds:.0f}% of the time, "
                         f"{'one trace' if session.any_shape is not None else len(session.traced)} "
                         "traced")
            b.batches = b.items = 0
            b.busy = 0.0
    return "GPU batching threads: " + "; ".join(parts)


def _sessions(detector: object) -> list:
    """The TorchSessions under a detector (through its wrappers and ensembles)."""
    from veil.detect.gpu import TorchSession

    found, todo = [], [detector]
    while todo:
        item = todo.pop()
        if item is None:
            continue
        session = getattr(item, "session", None)
        if isinstance(session, TorchSession):
            found.append(session)
        todo += [getattr(item, "inner", None), *getattr(item, "members", [])]
    return found


@contextmanager
def profiled(path: Path | None) -> Iterator[None]:
    """py-spy's samples of this process and its children (collapsed stacks, by thread) while
    the block runs, written to `path`; nothing without a path or without py-spy."""
    spy = shutil.which("py-spy") if path else None
    if spy is None:
        yield
        return
    recorder = subprocess.Popen([spy, "record", "--pid", str(os.getpid()), "--format", "raw",
                                 "--nonblocking", "--threads", "--subprocesses", "--rate", "50",
                                 "--output", str(path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(60)


def gpu_variants(device: str, schedules: list[str]) -> list[tuple[str, str, veil.Models]]:
    """(row name, device, models) for each run on the GPU: its own schedule and, where asked,
    the CPU's (the changed parts of frames looked at on the CPU)."""
    models = veil.load_video_models(device=device)
    rows = []
    for schedule in schedules:
        if schedule == "gpu":
            rows.append((f"veil, {device}", device, models))
        else:
            rows.append((f"veil, {device}, CPU's schedule", device,
                         dataclasses.replace(models, schedule=ScheduleOptions())))
    return rows


def run_clip(folder: Path, size: tuple[int, int], seconds: float, devices: list[str],
             schedules: list[str], profile: Path | None = None) -> None:
    clip = folder / f"clip{size[0]}.mp4"
    truth = make_clip(clip, size, 30, seconds)
    n = len(truth)
    print(f"\n## {size[0]}x{size[1]}, 30 fps, {n} frames, "
          f"{sum(len(f) for f in truth)} face-frames")
    print(decode_rates(clip))
    clock = Clock()
    encode_video(clip, folder / "plain.mp4", lambda i: [], veil.EncodeOptions())
    rows: dict[str, tuple[dict | None, dict[str, tuple[float, float]]]] = {
        "plain re-encode": (None, {"render_encode": clock.lap()})}
    runs = [("veil, cpu", "cpu", veil.load_video_models(device="cpu"))] if "cpu" in devices else []
    for device in (d for d in devices if d != "cpu"):
        runs += gpu_variants(device, schedules)
    for k, (name, device, models) in enumerate(runs):
        rows.update(run_veil(clip, folder / f"veil-{k}", truth, name, device, models,
                             profile if device != "cpu" and name == f"veil, {device}" else None))
    print_clip_table(rows, n)


def run_veil(clip: Path, out: Path, truth: list, name: str, device: str, models: veil.Models,
             profile: Path | None) -> dict[str, tuple[dict, dict[str, tuple[float, float]]]]:
    """Rows for one device (and schedule): the two passes as two calls, each pass's time
    and CPU time its own, and anonymize_video in one call (on a host with many cores, both
    passes at once: pipeline/both_passes.py)."""
    options = _options(device)
    with profiled(profile):
        clock = Clock()
        plan = veil.plan_video(clip, options, models=models)
        detect = clock.lap()
        _, report = veil.anonymize_video(clip, out.with_suffix(".mp4"), options, plan=plan,
                                         models=models)
        passes = {"detect": detect, "render_encode": clock.lap()}
    if device != "cpu":  # the encoder: NVENC where the card has it, else libx264
        print(f"{name}: written as {report.output_format}; "
              f"{gpu_use(models, sum(wall for wall, _ in passes.values()))}")
    clock = Clock()
    once_out = out.with_name(out.name + "-once.mp4")
    _, once = veil.anonymize_video(clip, once_out, options, models=models)
    together = {"both": clock.lap()}
    print(f"{name}, one call: {once.passes or 'the passes in turn (too few cores)'}; the plan "
          f"whole after {once.timings['detect']:.2f} s of {once.timings['total']:.2f}")
    return {name: (score(clip, out.with_suffix(".mp4"), truth), passes),
            f"{name}, one call": (score(clip, once_out, truth), together)}


class Clock:
    """Wall and CPU seconds (this process's and the children it has waited for: the render
    pass's processes) since it was made or last read."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), self._cpu()

    @staticmethod
    def _cpu() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), self._cpu()
        lap = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return lap


def print_clip_table(rows: dict[str, tuple[dict | None, dict[str, tuple[float, float]]]],
                     n: int) -> None:
    """Protection by face height, then each pass's pace and CPU time, and end to end."""
    print("\n| | " + " | ".join(rows) + " |")
    print("|---" * (len(rows) + 1) + "|")
    for bucket in (b[2] for b in HEIGHT_BUCKETS):
        cells = []
        for res, _ in rows.values():
            ok, total = (res or {}).get("prot", {}).get(bucket, [0, 0])
            cells.append(f"{100 * ok / total:.2f}% of {total}" if total else "")
        print(f"| {bucket} px | " + " | ".join(cells) + " |")
    for key in ("unmasked_24", "flicker"):
        print(f"| {key} | " + " | ".join("" if r is None else str(r[key])
                                         for r, _ in rows.values()) + " |")
    print("| non-face masked | " + " | ".join(
        "" if r is None else f"{100 * r['nonface']:.2f}%" for r, _ in rows.values()) + " |")
    cores = os.cpu_count() or 1
    for stage in ("detect", "render_encode", "both"):
        laps = [passes.get(stage) for _, passes in rows.values()]
        stage = {"both": "both passes at once"}.get(stage, f"{stage} pass")
        print(f"| {stage}, frames a second | " + " | ".join(
            f"{n / lap[0]:.1f}" if lap else "" for lap in laps) + " |")
        print(f"| {stage}, core-ms a frame (cores busy of {cores}) | " + " | ".join(
            f"{1000 * lap[1] / n:.0f} ({lap[1] / lap[0]:.1f})" if lap else "" for lap in laps)
            + " |")
    walls = [sum(wall for wall, _ in passes.values()) for _, passes in rows.values()]
    print("| end to end, frames a second | " + " | ".join(f"{n / s:.1f}" for s in walls) + " |")
    print("| vs plain re-encode (speed) | " + " | ".join(f"{walls[0] / s:.2f}x" for s in walls)
          + " |")


def photos_1mp(count: int) -> list[tuple[bytes, dict, np.ndarray]]:
    """`count` JPEGs of one megapixel (dev photos resized, repeated as needed), each with its
    annotation scaled to it and the pixels already near black (left out of the non-face
    share)."""
    records = load_dev()
    out = []
    for k in range(count):
        rec = records[k % len(records)]
        img = Image.open(DEV / "images" / rec["file"]).convert("RGB")
        scale = (MEGAPIXEL / (img.width * img.height)) ** 0.5
        img = img.resize((round(img.width * scale), round(img.height * scale)),
                         Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=92)
        faces = [dict(f, box=[v * scale for v in f["box"]]) for f in rec["faces"]]
        dark = np.asarray(img).max(axis=2) < DARK
        out.append((buf.getvalue(), dict(rec, faces=faces), dark))
    return out


def run_photos(count: int, devices: list[str], seconds: float) -> None:
    """The photos through each device, twice: first as a folder of new sizes (each a new
    input shape for the GPU), then again (every shape seen), each pass stopped after
    `seconds`; protection over the photos every pass finished."""
    photos = photos_1mp(count)
    workers = os.cpu_count() or 1
    print(f"\n## {count} photos of 1 megapixel (JPEG), balanced profile, faces; "
          f"{workers} threads sharing one set of models; each pass stops after {seconds:.0f} s")
    passes: dict[str, tuple[float, list[veil.AnonymizedImage | None]]] = {}
    for device in devices:
        models = veil.load_models("balanced", threads=1, device=device)
        options = _options(device, cover="faces")
        gpu_use(models, 1.0)  # counts from here
        with ThreadPoolExecutor(workers) as pool:
            for name in (device, f"{device}, again"):
                began = time.perf_counter()

                def one(photo: tuple[bytes, dict, np.ndarray], m: veil.Models = models,
                        o: veil.Options = options, t0: float = began
                        ) -> veil.AnonymizedImage | None:
                    if time.perf_counter() - t0 > seconds:
                        return None  # past the pass's time: not started
                    return veil.anonymize_image(photo[0], o, models=m)

                done = list(pool.map(one, photos))
                passes[name] = (time.perf_counter() - began, done)
                if device != "cpu":
                    print(f"{name}: {gpu_use(models, passes[name][0])}")
    print_photo_table(photos, passes)


def print_photo_table(photos: list[tuple[bytes, dict, np.ndarray]],
                      passes: dict[str, tuple[float, list[veil.AnonymizedImage | None]]]) -> None:
    names = list(passes)
    finished = [k for k in range(len(photos))
                if all(done[k] is not None for _, done in passes.values())]
    tallies, stages = {}, {}
    for name, (_, done) in passes.items():
        tallies[name], stages[name] = Tally(), defaultdict(list)
        for k in finished:
            _, rec, dark = photos[k]
            result = done[k]
            assert result is not None
            pixels = np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB"))
            tallies[name].add(rec, pixels.max(axis=2) < DARK, dark)
            for stage, seconds in (result.report.timings or {}).items():
                stages[name][stage].append(seconds)
    print(f"\nProtection over the {len(finished)} photos every pass finished.")
    print("\n| | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for bucket in (b[2] for b in HEIGHT_BUCKETS):
        shares = [tallies[k].share(bucket) for k in names]
        print(f"| {bucket} px | " + " | ".join(
            "" if np.isnan(s) else f"{100 * s:.2f}%" for s in shares) + " |")
    print("| non-face masked | " + " | ".join(
        f"{100 * tallies[k].nonface_share:.2f}%" for k in names) + " |")
    print("| photos finished | " + " | ".join(
        str(sum(r is not None for r in done)) for _, done in passes.values()) + " |")
    print("| photos a second | " + " | ".join(
        f"{sum(r is not None for r in done) / took:.1f}" for took, done in passes.values())
        + " |")
    for stage in sorted({s for k in names for s in stages[k]}):
        print(f"| {stage}, ms a photo (median, one thread) | " + " | ".join(
            f"{1000 * np.median(stages[k][stage]):.1f}" if stages[k][stage] else ""
            for k in names) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", type=Path, help="copy the dev photos it needs here, and stop")
    ap.add_argument("--pack-count", type=int, default=80)
    ap.add_argument("--device", default="cuda", help="the GPU run's device (torch: on the CPU)")
    ap.add_argument("--sizes", default="1920x1080,3840x2160")
    ap.add_argument("--seconds", type=float, default=10.0, help="1080p clip's length")
    ap.add_argument("--seconds-4k", type=float, default=5.0)
    ap.add_argument("--photos", type=int, default=320)
    ap.add_argument("--photo-seconds", type=float, default=60.0,
                    help="each pass over the photos stops starting photos after this long")
    ap.add_argument("--schedules", default="gpu",
                    help="the video schedules the GPU runs: gpu (its own), cpu (the CPU's), both "
                         "as gpu,cpu")
    ap.add_argument("--profile", type=Path,
                    help="py-spy's samples of the first clip's GPU run (its own schedule), here")
    args = ap.parse_args()
    if args.pack:
        pack(args.pack, args.pack_count)
        return
    host(args.device)
    first_calls(args.device)
    first_call_layers(args.device)
    model_alone(args.device)
    devices = ["cpu", args.device]
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            warm_up(Path(tmp), size, args.device)
        for k, size in enumerate(sizes):
            length = args.seconds if size[0] * size[1] <= 1920 * 1080 else args.seconds_4k
            run_clip(Path(tmp), size, length, devices, args.schedules.split(","),
                     args.profile if k == 0 else None)
    if args.photos:  # last: new photo sizes have cost the GPU seconds each
        run_photos(args.photos, devices, args.photo_seconds)

if __name__ == "__main__":
    main()
