"""The engine: photos (decode, detect or take a plan, render, encode, check) and videos
(detect and track, then render and encode). No file walking, no option parsing.

Every front end (CLI, Python API, service) calls these functions and nothing else.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .detect.base import Detections, Detector
from .errors import InputError, VeilError
from .masks import MaskStyleOptions, draw_masks, mask_box
from .media.image import (
    DEFAULT_MAX_PIXELS,
    decode_image,
    encode_image,
    output_format,
    write_atomic,
)
from .media.video import EncodeOptions
from .metadata import describe_metadata, leftover_metadata
from .plan import ImagePlan, Region, VideoPlan
from .profiles import DEFAULT_PROFILE
from .report import FileReport
from .track import TrackOptions

# The lazily loaded model cache: (profile, threads) -> (detector, auditor).
_profiles: dict[tuple[str, int], tuple[Detector, Detector | None]] = {}


def _profile(profile: str, threads: int) -> tuple[Detector, Detector | None]:
    from .profiles import build_profile

    key = (profile, threads)
    if key not in _profiles:
        _profiles[key] = build_profile(profile, threads)
    return _profiles[key]


def load_detector(profile: str = DEFAULT_PROFILE, threads: int = 0) -> Detector:
    """The detector for a profile (fast, balanced, thorough), loaded once per process."""
    return _profile(profile, threads)[0]


def load_video_detector(min_face: float | None = None, threads: int = 1) -> Detector:
    """The video detector for a smallest face to catch (frame pixels; None: the default)."""
    return load_detector("video" if min_face is None else f"video:{min_face:g}", threads)


def load_auditor(profile: str = DEFAULT_PROFILE, threads: int = 0) -> Detector | None:
    """The profile's leak-audit detector (a view its detector does not use), or None."""
    return _profile(profile, threads)[1]


def _run(detector: Detector, pixels: np.ndarray) -> Detections:
    try:
        return detector.detect(np.ascontiguousarray(pixels[..., :3]))
    except VeilError:
        raise
    except Exception as exc:  # any model failure must stop this file, never skip masking
        raise VeilError(f"face detection failed: {type(exc).__name__}: {exc}") from exc


def detect_image(pixels: np.ndarray, detector: Detector) -> ImagePlan:
    """Find faces in RGB(A) pixels and return the plan that covers them all."""
    height, width = pixels.shape[:2]
    dets = _run(detector, pixels)
    regions = [
        Region(float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(score), source)
        for b, score, source in zip(dets.boxes, dets.scores, dets.sources, strict=True)
    ]
    return ImagePlan(width, height, regions)


def render_image(
    pixels: np.ndarray,
    plan: ImagePlan,
    mask: MaskStyleOptions | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A copy of `pixels` with every region of the plan covered (regions marked keep are not)."""
    height, width = pixels.shape[:2]
    if (plan.width, plan.height) != (width, height):
        raise VeilError(
            f"plan is for a {plan.width}x{plan.height} image but this one is {width}x{height}"
        )
    out = pixels.copy()
    draw_masks(out, plan.to_cover, mask or MaskStyleOptions(), rng)
    return out


@dataclass
class AnonymizedImage:
    """An encoded, checked output and what was done to make it."""

    data: bytes
    format: str
    plan: ImagePlan
    report: FileReport


def anonymize_image(
    data: bytes,
    *,
    detector: Detector | None = None,
    mask: MaskStyleOptions | None = None,
    plan: ImagePlan | None = None,
    format: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str = "<bytes>",
    profile: str = DEFAULT_PROFILE,
    audit: bool = True,
    auditor: Detector | None = None,
    strict: bool = False,
) -> AnonymizedImage:
    """Anonymize one encoded photo: every face covered, encoded from pixels only.

    With `plan`, renders that plan and detects nothing (no audit either). Otherwise detects
    with the profile's detector (or `detector`), renders, and, with `audit`, looks at the
    rendered pixels again for faces left visible, adds them and renders again; `strict`
    fails the file if the audit still finds one. Raises VeilError (with a one-line reason)
    instead of ever returning unmasked pixels or original metadata.
    """
    mask = mask or MaskStyleOptions()
    report = FileReport(input=name)
    t0 = time.perf_counter()
    report.metadata_removed = describe_metadata(data)
    decoded = decode_image(data, max_pixels)
    height, width = decoded.pixels.shape[:2]
    report.width, report.height = width, height
    report.input_format = decoded.source_format
    report.warnings.extend(decoded.notes)
    t1 = time.perf_counter()
    audit_now = audit and plan is None
    if plan is None:
        plan = detect_image(decoded.pixels, detector or load_detector(profile))
    t2 = time.perf_counter()
    rendered = render_image(decoded.pixels, plan, mask)
    t3 = time.perf_counter()
    if audit_now:
        auditor = auditor or load_auditor(profile)
        if auditor is not None:
            rendered = _audit(decoded.pixels, rendered, plan, auditor, mask, strict, report)
    t4 = time.perf_counter()
    fmt = output_format(decoded.source_format, format)
    if fmt != SAME_FORMAT.get(decoded.source_format, decoded.source_format):
        report.warnings.append(f"written as {fmt} (input was {decoded.source_format})")
    out, notes = encode_image(rendered, fmt)
    report.warnings.extend(notes)
    check_output(out, width, height)
    t5 = time.perf_counter()
    report.output_format = fmt
    report.faces = [{k: v for k, v in r.to_json().items() if k != "keep"} for r in plan.regions]
    report.kept_visible = sum(r.keep for r in plan.regions)
    report.masks = [
        {
            "box": list(mask_box(r, mask.margin, width, height)),
            "shape": mask.shape,
            "style": mask.style,
        }
        for r in plan.to_cover
    ]
    spans = {
        "decode": (t0, t1),
        "detect": (t1, t2),
        "render": (t2, t3),
        "audit": (t3, t4),
        "encode": (t4, t5),
        "total": (t0, t5),
    }
    report.timings = {k: round(b - a, 4) for k, (a, b) in spans.items()}
    return AnonymizedImage(out, fmt, plan, report)


def _audit(
    pixels: np.ndarray,
    rendered: np.ndarray,
    plan: ImagePlan,
    auditor: Detector,
    mask: MaskStyleOptions,
    strict: bool,
    report: FileReport,
) -> np.ndarray:
    """Check the rendered pixels for visible faces; cover what is found and render again."""
    from .audit import find_leaks

    try:
        leaks = find_leaks(rendered, plan, auditor, mask)
    except Exception as exc:  # an audit that cannot run is a failure, not a pass
        raise VeilError(f"leak audit failed: {type(exc).__name__}: {exc}") from exc
    report.audit = {"ran": True, "found": [r.to_json()["box"] for r in leaks], "still_visible": 0}
    if not leaks:
        return rendered
    plan.regions.extend(leaks)
    rendered = render_image(pixels, plan, mask)
    if strict:
        still = find_leaks(rendered, plan, auditor, mask)
        report.audit["still_visible"] = len(still)
        if still:
            raise VeilError(
                f"--strict: the leak audit still sees {len(still)} face(s) after covering "
                f"{len(leaks)} it found; no output written"
            )
    return rendered


# Input formats that are written back as the same format under another name.
SAME_FORMAT = {"MPO": "JPEG"}


def check_output(data: bytes, width: int, height: int) -> None:
    """Re-read an encoded output: it must parse at the right size and carry no metadata.

    The pixels are not decoded again (that would double the encode cost); the container is
    parsed and, where the format has checksums (PNG), verified.
    """
    leftover = leftover_metadata(data)
    if leftover:
        raise VeilError(f"output check failed: metadata left in output: {', '.join(leftover)}")
    try:
        with Image.open(io.BytesIO(data)) as img:
            size = img.size
            img.verify()
    except Exception as exc:  # noqa: BLE001 - any parse failure means a broken output
        raise VeilError(f"output check failed: output does not parse: {exc}") from exc
    if size != (width, height):
        raise VeilError("output check failed: output size differs from input")


def anonymize_file(
    src: Path,
    dst: Path | Callable[[str], Path],
    *,
    detector: Detector | None = None,
    mask: MaskStyleOptions | None = None,
    plan: ImagePlan | None = None,
    format: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
    profile: str = DEFAULT_PROFILE,
    audit: bool = True,
    auditor: Detector | None = None,
    strict: bool = False,
) -> AnonymizedImage:
    """Anonymize the photo at `src` into `dst`, written atomically (all or nothing).

    `dst` may be a function of the output format (JPEG, PNG...) that returns the path, for
    callers whose file name depends on what was written.
    """
    src = Path(src)
    try:
        data = src.read_bytes()
    except IsADirectoryError as exc:
        raise InputError("is a directory") from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from exc
    result = anonymize_image(
        data,
        detector=detector,
        mask=mask,
        plan=plan,
        format=format,
        max_pixels=max_pixels,
        name=name or str(src),
        profile=profile,
        audit=audit,
        auditor=auditor,
        strict=strict,
    )
    target = dst(result.format) if callable(dst) else Path(dst)
    _refuse_overwrite(src, target)
    try:
        write_atomic(target, result.data)
    except OSError as exc:
        raise VeilError(f"cannot write {target}: {exc.strerror or exc}") from exc
    result.report.output = str(target)
    return result


def video_metadata_names(path: Path) -> list[str]:
    """Names (never values) of the container and stream tags and extra streams in a video."""
    import av

    names: list[str] = []
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            names += [f"container:{k}" for k in container.metadata]
            for stream in container.streams:
                names += [f"{stream.type}#{stream.index}:{k}" for k in stream.metadata]
                if stream.type not in ("video", "audio"):
                    names.append(f"{stream.type} stream #{stream.index}")
            if getattr(container, "chapters", None):
                names.append("chapters")
    except Exception:  # noqa: BLE001 - listing is best effort; decoding reports real errors
        pass
    return sorted(set(names))


def detect_video(
    src: Path,
    detector: Detector,
    track: TrackOptions | None = None,
    progress: Callable[[int], None] | None = None,
    parallel: int = 0,
) -> VideoPlan:
    """Detect faces in every frame of `src` and link them into a video plan.

    Frames are decoded in this thread while `parallel` threads (0: one per core) detect
    earlier ones: onnxruntime and FFmpeg release the GIL, and on a CPU one single-threaded
    inference per core gets more frames through than one inference spread over all cores
    (build the detector with threads=1 for that).
    """
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    from .media.video import iter_frames
    from .plan import VideoPlan, VideoTrack
    from .track import fill, link

    track = track or TrackOptions()
    workers = parallel or os.cpu_count() or 1
    per_frame: list[Detections] = []
    height = width = 0
    pending: deque[Future[Detections]] = deque()

    def collect(until: int) -> None:
        while len(pending) > until:
            per_frame.append(pending.popleft().result())
            if progress is not None:
                progress(len(per_frame))

    with ThreadPoolExecutor(workers, thread_name_prefix="veil-detect") as pool:
        try:
            for _, frame in iter_frames(src):
                height, width = frame.shape[:2]  # upright, as the plan's boxes are
                pending.append(pool.submit(_run, detector, frame))
                collect(2 * workers)  # a few frames in flight, never the whole video
            collect(0)
        finally:
            for future in pending:
                future.cancel()
    if not per_frame:
        raise InputError("video has no decodable frames")
    count = len(per_frame)
    tracks = [
        VideoTrack(t.id, fill(t, count, track), source=detector.name)
        for t in link(per_frame, track)
    ]
    return VideoPlan(width, height, count, tracks)


def _refuse_overwrite(src: Path, dst: Path) -> None:
    if dst.resolve() == src.resolve():
        raise VeilError("output would overwrite the input; choose another -o")


def anonymize_video(
    src: Path,
    dst: Path,
    *,
    detector: Detector | None = None,
    mask: MaskStyleOptions | None = None,
    plan: VideoPlan | None = None,
    encode: EncodeOptions | None = None,
    track: TrackOptions | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    name: str | None = None,
    parallel: int = 0,
) -> tuple[VideoPlan, FileReport]:
    """Anonymize a video in two passes: detect and track every frame, then render and encode.

    With `plan`, only the second pass runs; `parallel` frames are detected at once (0: one
    per core; see detect_video). `progress(stage, frames done, frames in all)` is called per
    frame ("detect", then "encode"; in all is 0 when the container does not say). The
    output is written to a temporary name and
    renamed at the end; on any failure nothing is left at `dst`.
    """
    from .media.video import encode_video, probe_video

    src, dst = Path(src), Path(dst)
    _refuse_overwrite(src, dst)
    mask = mask or MaskStyleOptions()
    encode = encode or EncodeOptions()
    report = FileReport(input=name or str(src))
    t0 = time.perf_counter()
    info = probe_video(src)
    report.width, report.height = info.width, info.height
    suffix = src.suffix.lstrip(".").lower()
    report.input_format = f"{suffix}/{info.codec}" if suffix else info.codec
    report.metadata_removed = video_metadata_names(src)
    if plan is None:
        plan = detect_video(
            src,
            detector or load_video_detector(),
            track,
            None if progress is None else (lambda n: progress("detect", n, info.frames)),
            parallel,
        )
    elif (plan.width, plan.height) != (info.width, info.height):
        raise VeilError(
            f"plan is for a {plan.width}x{plan.height} video but this one is "
            f"{info.width}x{info.height}"
        )
    t1 = time.perf_counter()
    rng = np.random.default_rng()
    frames_masked = 0

    per_frame = plan.regions_by_frame()

    def render(index: int, frame: np.ndarray) -> np.ndarray:
        nonlocal frames_masked
        if index >= plan.frames:
            raise VeilError(f"frame {index} is past the plan's {plan.frames} frames")
        regions = per_frame[index]
        if regions:
            frames_masked += 1
            draw_masks(frame, regions, mask, rng)
        return frame

    stats = encode_video(
        src,
        dst,
        render,
        encode,
        None if progress is None else (lambda n: progress("encode", n, plan.frames)),
        expected_frames=plan.frames,
    )
    t2 = time.perf_counter()
    report.output = str(dst)
    report.output_format = f"{dst.suffix.lstrip('.').lower()}/{encode.codec}"
    report.faces = [
        {"track": t.id, "frames": [min(t.boxes), max(t.boxes)], "source": t.source, "keep": t.keep}
        for t in plan.tracks
    ]
    report.kept_visible = sum(t.keep for t in plan.tracks)
    report.masks = [
        {
            "frames": stats.frames,
            "frames_masked": frames_masked,
            "shape": mask.shape,
            "style": mask.style,
        }
    ]
    if info.dropped_streams:
        report.warnings.append(f"dropped streams: {', '.join(info.dropped_streams)}")
    if encode.audio == "drop" or not stats.audio_packets:
        report.warnings.append(
            "no audio in the output" + (" (--audio drop)" if encode.audio == "drop" else "")
        )
    report.timings = {
        "detect": round(t1 - t0, 3),
        "render_encode": round(t2 - t1, 3),
        "total": round(t2 - t0, 3),
    }
    return plan, report
