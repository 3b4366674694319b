"""The video engine: detect and track every frame (pass one), then render and encode (pass
two). No file walking and no option parsing.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import current_process, get_context
from pathlib import Path
from typing import Any

import numpy as np

from ..detect.base import Detections, Detector
from ..detect.runtime import resolve_device
from ..detect.text import FoundText, TextDetector
from ..errors import InputError, PartsDoNotJoin, VeilError, one_file
from ..masks import SURE_SCORE, draw_masks, mask_groups
from ..media.encoders import check_encoder, encoder_for
from ..media.files import part_path, refuse_overwrite
from ..media.metadata import video_metadata_names
from ..media.video import (
    Box,
    EncodeStats,
    Paint,
    Painter,
    VideoInfo,
    count_packets,
    encode_video,
    encode_video_part,
    iter_frames,
    join_video_parts,
    probe_video,
)
from ..options import Limits, MaskOptions, Options
from ..plan import Region, VideoPlan, VideoTrack
from ..report import FACE_SCORE, FileReport, StageTimer
from ..track import Track, TrackOptions, fill, link
from .cuts import colour_signature, scene_cuts
from .models import Models, TextFinder, faint_warning, load_video_models, text_finder
from .schedule import Looks, ScheduleOptions, schedule_for, segment

# progress(stage, frames done, frames in all): stage is "detect" or "encode"; in all is 0
# when the container does not say.
Progress = Callable[[str, int, int], None]
# Spans of one video's detection (detect_video_span) start where the schedule starts afresh
# (a keyframe with a whole turned view: the turned looks run on from one sideways keyframe to
# the next); parts of its rendering (render_video_part) on any keyframe.
# SPAN_ALIGN suits every schedule: the CPU's, and the GPU's, which starts afresh more often
# (span_align).
SPAN_ALIGN = math.lcm(ScheduleOptions().every, ScheduleOptions().sideways_whole_every)
PART_ALIGN = ScheduleOptions().every
# A host with this many cores or more (a GPU server) detects and renders a video in parts at
# once, CORES_PER_PART cores each, none shorter than MIN_PART_FRAMES: a GPU's batches want
# frames from several decoders, and on a 16-core host one process's render threads ran no
# faster than one encoder (74 frames a second at 1080p; docs/gpu.md). Below, the whole video
# in one go.
SPLIT_FROM_CORES = 8
CORES_PER_PART = 4
MIN_PART_FRAMES = 64


def span_align(schedule: ScheduleOptions) -> int:
    """The frames a span of detection may start on under `schedule`: keyframes (every
    `every` frames) whose turned view is whole."""
    return math.lcm(max(1, schedule.every), schedule.sideways_every or 1,
                    schedule.sideways_whole_every or 1)


def video_spans(frames: int, count: int, align: int = SPAN_ALIGN) -> list[tuple[int, int | None]]:
    """A video of `frames` frames cut into at most `count` spans that start on multiples of
    `align` (SPAN_ALIGN for detection, PART_ALIGN for rendering): (start, stop) pairs, the
    last running to the end (None) whatever the container declared; [(0, None)] when there
    is nothing to cut."""
    if count < 2 or frames <= align:
        return [(0, None)]
    size = math.ceil(frames / count / align) * align
    starts = list(range(0, frames, size))
    return [(a, a + size) for a in starts[:-1]] + [(starts[-1], None)]


def parts_here(threads: int, frames: int) -> int:
    """How many parts of a video of `frames` frames this host works on at once."""
    cores = threads or os.cpu_count() or 1
    if cores < SPLIT_FROM_CORES:
        return 1
    return max(1, min(cores // CORES_PER_PART, frames // MIN_PART_FRAMES))


def render_parts_here(threads: int, frames: int) -> int:
    """How many parts of a video's rendering this host works on at once, each in a process
    of its own: one in a daemon process (a multiprocessing.Pool's worker, the service's),
    which may not start processes."""
    return 1 if current_process().daemon else parts_here(threads, frames)


@one_file
def detect_video(
    src: Path,
    detector: Detector,
    track: TrackOptions | None = None,
    progress: Callable[[int], None] | None = None,
    parallel: int = 0,
    limits: Limits | None = None,
    min_score: float = 0.0,
    schedule: ScheduleOptions | None = None,
    auditor: Detector | None = None,
    report: FileReport | None = None,
    text: TextFinder | None = None,
) -> VideoPlan:
    """Detect faces in every frame of `src` (on the schedule: full views where needed,
    followed faces close up; see pipeline/schedule.py) and link them into a video plan.
    With an `auditor` (another model family), the leak audit looks too, and what it finds
    joins the plan; `report` gets what it looked at and found. With `text`, the plates and
    lines it finds (on every ScheduleOptions.text_every-th frame) are tracked too.

    Frames are decoded in this thread while `parallel` threads (0: one per core) work on
    earlier segments: onnxruntime and FFmpeg release the GIL, and on a CPU one
    single-threaded inference per core gets more frames through than one inference spread
    over all cores (build the detector with threads=1 for that).
    """
    looks = Looks(detector, schedule or ScheduleOptions(), auditor, text)
    per_frame, (width, height) = scheduled_detections(src, looks, parallel, limits, progress)
    if report is not None and auditor is not None:
        report.audit = {"ran": True, "frames_looked_at": looks.audit_frames,
                        "found": looks.found, "still_visible": 0}
    cuts = scene_cuts(looks.colours())
    return plan_tracks(per_frame, width, height, detector.name, track, min_score, cuts,
                       looks.text_found)


@dataclass
class VideoSpan:
    """What the schedule found in frames `start` to `start + len(per_frame)` of one video: a
    part of detect_video's work that another machine can do. join_spans makes the parts into
    the plan detect_video would have made."""

    start: int
    per_frame: list[Detections]
    width: int
    height: int
    source: str  # the detector's name
    backend: str | None = None
    audit: dict[str, Any] | None = None  # frames the auditor looked at and what it found
    seconds: float = 0.0
    signatures: list[np.ndarray] = field(default_factory=list)  # each frame's (see cuts.py)
    # the plates and lines found (--cover), by frame index within the whole video
    text: dict[int, list[FoundText]] = field(default_factory=dict)


@one_file
def detect_video_span(src: Path, models: Models, start: int, stop: int | None,
                      options: Options, threads: int = 1,
                      progress: Callable[[int], None] | None = None) -> VideoSpan:
    """Frames `start` to `stop` (None: the end) of `src`, as anonymize_video's detection
    pass would find them; both must be multiples of SPAN_ALIGN (or of span_align of the
    models' schedule). `progress(frames done)`."""
    schedule = schedule_of(models)
    align = span_align(schedule)
    if start % align or (stop is not None and stop % align):
        raise VeilError(f"a span must start and stop on a multiple of {align} frames")
    began = time.perf_counter()
    auditor = models.auditor if options.detect.audit else None
    looks = Looks(models.detector, schedule, auditor, text_finder(options, models, still=False))
    per_frame, (width, height) = scheduled_detections(src, looks, threads, options.limits,
                                                      progress, start, stop)
    audit = None if auditor is None else {"frames_looked_at": looks.audit_frames,
                                          "found": looks.found}
    signatures = looks.colours()[:len(per_frame)]
    return VideoSpan(start, per_frame, width, height, models.detector.name, models.backend,
                     audit, time.perf_counter() - began, signatures, looks.text_found)


def join_spans(spans: list[VideoSpan], options: Options,
               report: FileReport | None = None) -> VideoPlan:
    """The plan of a whole video from its spans (a span past the video's end is empty);
    VeilError when they leave a gap or overlap."""
    parts = sorted((s for s in spans if s.per_frame), key=lambda s: s.start)
    at = 0
    for part in parts:
        if part.start != at:
            raise VeilError(f"the spans of this video do not join at frame {at}")
        at += len(part.per_frame)
    if not parts:
        raise InputError("video has no decodable frames")
    first = parts[0]
    per_frame = [dets for part in parts for dets in part.per_frame]
    if report is not None:
        spans_report(parts, report)
    cuts = scene_cuts([signature for part in parts for signature in part.signatures])
    text = {index: found for part in parts for index, found in part.text.items()}
    return plan_tracks(per_frame, first.width, first.height, first.source, None,
                       options.detect.min_score, cuts, text)


def spans_report(spans: list[VideoSpan], report: FileReport) -> None:
    """What a video's spans (in order) say for its report: the backend, the audit."""
    report.backend = spans[0].backend
    if spans[0].audit is not None:
        report.audit = {"ran": True, "still_visible": 0,
                        "frames_looked_at": sum(p.audit["frames_looked_at"]
                                                for p in spans if p.audit),
                        "found": [f for p in spans if p.audit for f in p.audit["found"]]}


def scheduled_detections(
    src: Path, looks: Looks, parallel: int = 0, limits: Limits | None = None,
    progress: Callable[[int], None] | None = None, start: int = 0, stop: int | None = None,
) -> tuple[list[Detections], tuple[int, int]]:
    """Each frame's boxes, by the schedule, and the upright frame size. Segments (a full
    view at each end) go to `parallel` threads as the frames arrive; a few are in flight at
    once, never the whole video.

    Frames `start` to `stop` (not included; None: the end) only, both multiples of the
    schedule's `every`: the boxes are those the whole video's run finds in those frames
    (every segment depends only on its own frames), so spans can run on different machines.
    """
    workers = parallel or os.cpu_count() or 1
    every = looks.every
    found: dict[int, list[Detections]] = {}
    pending: deque[tuple[int, Future[list[Detections]]]] = deque()
    texts: list[Future[None]] = []  # the plates and lines looked for (looks.text)
    size = (0, 0)

    def collect(until: int) -> None:
        while len(pending) > until:
            start, future = pending.popleft()
            found[start] = future.result()
            if progress is not None:
                progress(sum(len(part) for part in found.values()))

    with ThreadPoolExecutor(workers, thread_name_prefix="veil-detect") as pool:
        try:
            frames: list[np.ndarray] = []
            here, first = start, None
            for index, frame in iter_frames(src, limits, start):
                size = (frame.shape[1], frame.shape[0])  # upright, as the plan's boxes are
                frames.append(frame)
                if index != stop:  # the next span's first frame: its own
                    looks.signatures[index] = colour_signature(frame)
                    if looks.text is not None and index % looks.options.text_every == 0:
                        texts.append(pool.submit(looks.lines, index, frame))
                if first is None:
                    turned = pool.submit(looks.turned, index, frame, None)
                    here, first = index, pool.submit(looks.keyframe, index, frame, turned)
                elif len(frames) == every + 1:
                    # Each task waits only on tasks submitted before it (no deadlock).
                    turned = pool.submit(looks.turned, index, frame, turned)
                    last = pool.submit(looks.keyframe, index, frame, turned)
                    pending.append((here, pool.submit(_segment, looks, frames, first, last,
                                                      here)))
                    frames, here, first = [frame], index, last
                    collect(workers + 1)
                if index == stop:  # this keyframe's view (`last`) closed the span's last segment
                    first = None
                    break
            if first is not None:
                pending.append((here, pool.submit(_segment, looks, frames, first, None,
                                                  here)))
            collect(0)
            for looked in texts:
                looked.result()  # a failure stops the file
        finally:
            for _, future in pending:
                future.cancel()
            for looked in texts:
                looked.cancel()
    if not found and start == 0:
        raise InputError("video has no decodable frames")
    per_frame = [dets for at in sorted(found) for dets in found[at]]
    return per_frame[: None if stop is None else stop - start], size


def _segment(looks: Looks, frames: list[np.ndarray], first: Future[Detections],
             last: Future[Detections] | None, start: int) -> list[Detections]:
    """A segment's frames once its keyframes' full views are done (submitted before it)."""
    return segment(looks, frames, first.result(), None if last is None else last.result(),
                   start)


def count_tracks(report: FileReport, plan: VideoPlan) -> None:
    """The report's faces (one per track), faces found, regions masked and kept visible, for
    a video or a photo with frames."""
    tracks = [t for t in plan.tracks if t.boxes]
    listed = [
        {"track": t.id, "frames": [min(t.boxes), max(t.boxes)], "score": round(t.score, 4),
         "source": t.source, "keep": t.keep, "category": t.category}
        for t in tracks
    ]
    report.faces = [{k: v for k, v in t.items() if k != "category"} for t in listed
                    if t["category"] == "face"]
    report.plates_and_text = [t for t in listed if t["category"] != "face"]
    report.faces_found = sum(t.score >= FACE_SCORE and t.category == "face" for t in tracks)
    report.kept_visible = sum(t.keep for t in tracks) + sum(r.keep for _, _, r in plan.regions)
    report.regions_masked = sum(not t.keep for t in tracks) + sum(
        not r.keep for _, _, r in plan.regions)


def plan_tracks(
    per_frame: list[Detections], width: int, height: int, source: str,
    track: TrackOptions | None = None, min_score: float = 0.0, cuts: Sequence[int] = (),
    text: dict[int, list[FoundText]] | None = None,
) -> VideoPlan:
    """Link each frame's detections into tracks (gaps bridged, a few frames of lead and
    trail, never across a scene cut: `cuts`) and return the plan; a track is kept when the
    detector scored it `min_score` or more in some frame. `text`: the plates and lines
    found on some frames (frame index -> lines), tracked the same way, each category on
    its own (min_score is the face detector's: it does not apply to them)."""
    track = track or TrackOptions()
    count = len(per_frame)
    tracks = [face_track(t, count, track, cuts, source) for t in link(per_frame, track, cuts)]
    return tracks_plan(tracks, width, height, count, track, min_score, cuts, text)


def face_track(linked: Track, count: int, track: TrackOptions, cuts: Sequence[int],
               source: str) -> VideoTrack:
    """A linked face's mask over a video of `count` frames (plan_tracks)."""
    return VideoTrack(linked.id, fill(linked, count, track, cuts), source=source,
                      score=max((b[4] for b in linked.boxes.values()), default=0.0),
                      sure={f for f, b in linked.boxes.items()
                            if b[4] >= SURE_SCORE and f not in linked.audited})


def tracks_plan(tracks: list[VideoTrack], width: int, height: int, count: int,
                track: TrackOptions, min_score: float, cuts: Sequence[int],
                text: dict[int, list[FoundText]] | None) -> VideoPlan:
    """The plan of a video's face tracks, those scored `min_score` or more, and of the
    plates and lines of `text` (plan_tracks)."""
    # Numbered after every face track, kept or not: ids stay unique (a reviewer's toggles
    # name tracks by id).
    next_id = max((t.id for t in tracks), default=0) + 1
    tracks = [t for t in tracks if t.score >= min_score]
    tracks += _text_tracks(text or {}, count, track, cuts, next_id)
    return VideoPlan(width, height, count, tracks)


def _text_tracks(text: dict[int, list[FoundText]], count: int, track: TrackOptions,
                 cuts: Sequence[int], first_id: int) -> list[VideoTrack]:
    """The plates and lines found on some frames, linked into tracks per category (a plate
    and a sign are never one track), numbered from `first_id`."""
    tracks: list[VideoTrack] = []
    for category in sorted({line.category for lines in text.values() for line in lines}):
        seen = [Detections() for _ in range(count)]
        for index, lines in text.items():
            lines = [line for line in lines if line.category == category]
            if index < count and lines:
                seen[index] = Detections.of(np.array([line.box for line in lines]),
                                            np.array([line.score for line in lines]),
                                            TextDetector.name)
        tracks += [VideoTrack(first_id + len(tracks), fill(t, count, track, cuts),
                              source=TextDetector.name,
                              score=max(b[4] for b in t.boxes.values()), category=category)
                   for t in link(seen, track, cuts)]
    return tracks


@one_file
def anonymize_video(
    src: Path,
    dst: Path,
    options: Options | None = None,
    *,
    plan: VideoPlan | None = None,
    models: Models | None = None,
    progress: Progress | None = None,
    name: str | None = None,
    threads: int = 0,
) -> tuple[VideoPlan, FileReport]:
    """Anonymize a video in two passes: detect and track every frame, then render and encode.

    With `plan`, only the second pass runs. Otherwise faces are found by `models` (default:
    the video detector for the options' smallest face). `threads` frames are detected at
    once and the encoder gets as many threads (0: one per core; see detect_video). The
    output is written to a temporary name and renamed at the end; on any failure nothing is
    left at `dst`.
    """
    src, dst = Path(src), Path(dst)
    refuse_overwrite(src, dst)
    options = options or Options()
    check_encoder(options.encode)  # a --codec that cannot write: before any work, not after
    report = FileReport(input=name or str(src))
    timer = StageTimer()
    with timer.stage("detect"):
        info = _probe(src, report, options)
        options = _on_device(options, models, info)
        frames = frame_count(src, info, threads) if plan is None else 0
        if plan is not None:
            _check_plan_size(plan, info)
    rendered: tuple[EncodeStats, int] | None
    if plan is None and render_parts_here(threads, frames) > 1:
        plan, rendered = _both_passes(src, dst, options, models, info, (frames, threads),
                                      progress, report, timer)
    else:
        with timer.stage("detect"):
            plan = plan or _plan(src, options, models, info, threads, progress, report)
        with timer.stage("render_encode"):
            rendered = _render_in_parts(src, dst, plan, options, threads, info)
    with timer.stage("render_encode"):
        if rendered is not None and progress is not None:
            progress("encode", plan.frames, plan.frames)
        stats, frames_masked = rendered or _render(src, dst, plan, options, threads, progress,
                                                   info)
    _describe(report, dst, plan, options, info, stats, frames_masked)
    report.timings = timer.timings(digits=3)
    return plan, report


@one_file
def plan_video(
    src: Path,
    options: Options | None = None,
    *,
    models: Models | None = None,
    progress: Progress | None = None,
    threads: int = 0,
) -> VideoPlan:
    """Pass one of anonymize_video alone: the plan it would render (for review, or for
    `veil detect`), made the same way (the device's schedule, spans on a host with many
    cores). Writes nothing."""
    src, options = Path(src), options or Options()
    return _plan(src, options, models, probe_video(src, options.limits), threads, progress,
                 FileReport(input=str(src)))


def _plan(src: Path, options: Options, models: Models | None, info: VideoInfo, threads: int,
          progress: Progress | None, report: FileReport) -> VideoPlan:
    """Pass one with the options' video models unless `models` are given; the report gets
    the backend that ran and what the audit found."""
    models = _models(options, models, report)
    frames_done = None if progress is None else _stage(progress, "detect", info.frames)
    return _detect(src, models, options, info, threads, frames_done, report)


def _models(options: Options, models: Models | None, report: FileReport) -> Models:
    """`models`, or the options' video models; the report names the backend that runs."""
    models = models or load_video_models(options.detect.min_face, backend=options.detect.backend,
                                         device=options.detect.device)
    report.backend = models.backend
    return models


def _both_passes(src: Path, dst: Path, options: Options, models: Models | None,
                 info: VideoInfo, frames_and_threads: tuple[int, int],
                 progress: Progress | None, report: FileReport, timer: StageTimer,
                 ) -> tuple[VideoPlan, tuple[EncodeStats, int] | None]:
    """Both passes at once (pipeline/both_passes.py), on a host that works on parts: the plan,
    and the output's counts (None: its parts did not join; render it whole). The report's
    detect time runs until the plan was whole, its render_encode time from then."""
    from .both_passes import detect_and_render  # both_passes.py builds on this module

    frames, threads = frames_and_threads
    run = detect_and_render(src, dst, _models(options, models, report), options, info, frames,
                            threads, report,
                            None if progress is None else _stage(progress, "detect", frames))
    timer.spans["detect"] += run.detected
    timer.spans["render_encode"] = run.seconds - run.detected
    report.passes = {"spans": run.spans, "parts": run.parts, "parts_rendered_early": run.early,
                     "parts_rendered_again": run.redone}
    return run.plan, run.rendered


def _detect(src: Path, models: Models, options: Options, info: VideoInfo, threads: int,
            progress: Callable[[int], None] | None, report: FileReport) -> VideoPlan:
    """Pass one: the whole video in one go, or (on a host with many cores) its spans at
    once, joined into the plan the whole run would make."""
    auditor = models.auditor if options.detect.audit else None
    frames = frame_count(src, info, threads)
    bounds = video_spans(frames, parts_here(threads, frames), span_align(schedule_of(models)))
    if len(bounds) == 1:
        return detect_video(src, models.detector, None, progress, threads, options.limits,
                            options.detect.min_score, schedule_of(models), auditor, report,
                            text_finder(options, models, still=False))
    each = cores_each(threads, len(bounds))
    counters = span_counters(len(bounds), progress)

    def span(k: int) -> VideoSpan:
        start, stop = bounds[k]
        return detect_video_span(src, models, start, stop, options, each, counters[k])

    with ThreadPoolExecutor(len(bounds), thread_name_prefix="veil-span") as pool:
        spans = list(pool.map(span, range(len(bounds))))
    return join_spans(spans, options, report)


def cores_each(threads: int, workers: int) -> int:
    """The threads each of `workers` spans or parts gets of `threads` (0: the host's cores)."""
    return max(1, (threads or os.cpu_count() or 1) // workers)


def span_counters(count: int, progress: Callable[[int], None] | None,
                  ) -> list[Callable[[int], None]]:
    """A progress callback for each of `count` spans detected at once: `progress` gets the
    frames all of them have done."""
    done = [0] * count

    def counter(k: int) -> Callable[[int], None]:
        def count_frames(frames_done: int) -> None:
            done[k] = frames_done
            if progress is not None:
                progress(sum(done))
        return count_frames

    return [counter(k) for k in range(count)]


def frame_count(src: Path, info: VideoInfo, threads: int) -> int:
    """The video's frames as its container declares them; where it does not (Matroska),
    counted, but only on a host that works on parts (0 otherwise: not needed)."""
    return info.frames or (count_packets(src) if parts_here(threads, 1 << 30) > 1 else 0)


def _on_device(options: Options, models: Models | None, info: VideoInfo) -> Options:
    """`options` with the encoder that runs: on a GPU, NVENC where the card has it."""
    device = models.device if models is not None else resolve_device(options.detect.device)
    return replace(options, encode=encoder_for(options.encode, device, (info.width,
                                                                       info.height)))


def schedule_of(models: Models) -> ScheduleOptions:
    """The schedule `models` run on: their own, or their device's."""
    return models.schedule or schedule_for(models.device)


def _render_in_parts(src: Path, dst: Path, plan: VideoPlan, options: Options, threads: int,
                     info: VideoInfo) -> tuple[EncodeStats, int] | None:
    """Pass two in parts at once on a host with many cores, joined without encoding again;
    None when the video is rendered whole (one part, or parts that cannot join: a variable
    frame rate)."""
    bounds = video_spans(plan.frames, render_parts_here(threads, plan.frames), PART_ALIGN)
    if len(bounds) == 1:
        return None
    each = cores_each(threads, len(bounds))
    paths = [part_path(dst.parent) for _ in bounds]

    try:
        # Processes, not threads: each frame's conversions and the muxing take the GIL, and
        # threads of one process held four parts to one part's pace (docs/gpu.md).
        with ProcessPoolExecutor(len(bounds), mp_context=get_context("spawn")) as pool:
            parts = list(pool.map(render_video_part, *zip(*[
                (src, paths[k], plan, options, start, stop, each)
                for k, (start, stop) in enumerate(bounds)], strict=True)))
        if sum(p.frames for p in parts) != plan.frames:
            raise VeilError(f"rendered {sum(p.frames for p in parts)} frames but the plan has "
                            f"{plan.frames}; no output written")
        stats = join_video_parts(src, paths, dst, options.encode, options.limits)
    except PartsDoNotJoin:
        return None
    finally:
        for path in paths:
            path.unlink(missing_ok=True)
    return stats, sum(p.frames_masked for p in parts)


def _probe(src: Path, report: FileReport, options: Options) -> VideoInfo:
    info = probe_video(src, options.limits)
    report.width, report.height = info.width, info.height
    suffix = src.suffix.lstrip(".").lower()
    report.input_format = f"{suffix}/{info.codec}" if suffix else info.codec
    report.metadata_removed = video_metadata_names(src)
    return info


def _stage(progress: Progress, stage: str, total: int) -> Callable[[int], None]:
    return lambda done: progress(stage, done, total)


def _render(
    src: Path,
    dst: Path,
    plan: VideoPlan,
    options: Options,
    threads: int,
    progress: Progress | None,
    info: VideoInfo,
) -> tuple[EncodeStats, int]:
    """Pass two: cover each frame's regions and encode; returns the encoder's counts and how
    many frames had a mask."""
    render, masked = _masker(plan, options)
    stats = encode_video(
        src,
        dst,
        render,
        options.encode,
        options.limits,
        threads,
        None if progress is None else _stage(progress, "encode", plan.frames),
        expected_frames=plan.frames,
        info=info,
    )
    return stats, len(masked)


def _masker(plan: VideoPlan, options: Options) -> tuple[Painter, set[int]]:
    """A painter that covers each frame's regions of `plan`, and the set of frames it masked
    (frames render on several threads at once)."""
    rng = np.random.default_rng()
    per_frame = plan.regions_by_frame()
    masked: set[int] = set()
    frame = (plan.width, plan.height)

    def paint(group: list[Region]) -> Paint:
        return lambda rgb, origin: draw_masks(rgb, group, options.mask, rng, origin, frame)

    def render(index: int) -> list[tuple[Box, Paint]]:
        if index >= plan.frames:
            raise VeilError(f"frame {index} is past the plan's {plan.frames} frames")
        if per_frame[index]:
            masked.add(index)
        return [(box, paint(group))
                for box, group in mask_groups(per_frame[index], options.mask, *frame)]

    return render, masked


@dataclass
class RenderedPart:
    """Frames `start` to `start + frames` of a video, rendered and encoded on their own into
    a temporary file at `path` (render_video_part); join_video makes the output from them."""

    start: int
    frames: int
    frames_masked: int
    path: str
    seconds: float = 0.0


@one_file
def render_video_part(src: Path, part: Path, plan: VideoPlan, options: Options, start: int,
                      stop: int | None, threads: int = 0) -> RenderedPart:
    """Pass two for frames `start` to `stop` (None: the end) of `src` only, written to `part`
    (a name the caller chose beside the output: a `.veil-*.part` name is cleaned up after a
    killed run): what anonymize_video would write for them, encoded on their own."""
    began = time.perf_counter()
    check_encoder(options.encode)
    info = probe_video(src, options.limits)
    _check_plan_size(plan, info)
    render, masked = _masker(plan, options)
    stats = encode_video_part(src, part, render, options.encode, start, stop, options.limits,
                              threads, info)
    return RenderedPart(start, stats.frames, len(masked), str(part),
                        time.perf_counter() - began)


@one_file
def join_video(src: Path, dst: Path, plan: VideoPlan, parts: list[RenderedPart],
               options: Options, name: str | None = None) -> FileReport:
    """Write `dst` from the parts render_video_part made of `src` (their packets copied as
    they are, the sound copied once from `src`) and report it as anonymize_video would;
    PartsDoNotJoin when their encoders disagree (encode the video whole then). The parts are
    removed whatever happens."""
    try:
        src, dst = Path(src), Path(dst)
        refuse_overwrite(src, dst)
        report = FileReport(input=name or str(src))
        timer = StageTimer()
        info = _probe(src, report, options)
        _check_plan_size(plan, info)
        ordered = sorted(parts, key=lambda p: p.start)
        at = 0
        for part in ordered:
            if part.start != at:
                raise VeilError(f"the rendered parts of this video do not join at frame {at}")
            at += part.frames
        if at != plan.frames:
            raise VeilError(f"rendered {at} frames but the plan has {plan.frames}; no output "
                            "written")
        with timer.stage("join"):
            stats = join_video_parts(src, [Path(p.path) for p in ordered], dst,
                                     options.encode, options.limits)
        _describe(report, dst, plan, options, info, stats, sum(p.frames_masked for p in parts))
        # The parts' own times (on other machines, maybe) count towards the total: the work done.
        timer.spans["render_encode"] = sum(p.seconds for p in ordered)
        timer.started -= timer.spans["render_encode"]
        report.timings = timer.timings(digits=3)
        return report
    finally:
        for part in parts:
            Path(part.path).unlink(missing_ok=True)


def _check_plan_size(plan: VideoPlan, info: VideoInfo) -> None:
    if (plan.width, plan.height) != (info.width, info.height):
        raise VeilError(
            f"plan is for a {plan.width}x{plan.height} video but this one is "
            f"{info.width}x{info.height}"
        )


def _describe(
    report: FileReport,
    dst: Path,
    plan: VideoPlan,
    options: Options,
    info: VideoInfo,
    stats: EncodeStats,
    frames_masked: int,
) -> None:
    """What the report says of a video: tracks, masked frames, what was dropped."""
    mask: MaskOptions = options.mask
    report.output = str(dst)
    report.output_format = f"{dst.suffix.lstrip('.').lower()}/{options.encode.codec}"
    count_tracks(report, plan)
    report.masks = [
        {
            "frames": stats.frames,
            "frames_masked": frames_masked,
            "shape": mask.shape,
            "style": mask.style,
        }
    ]
    report.warnings += faint_warning(options)
    if info.dropped_streams:
        report.warnings.append(f"dropped streams: {', '.join(info.dropped_streams)}")
    if stats.audio_reencoded:
        report.warnings.append(
            f"{stats.audio_reencoded} audio stream(s) re-encoded to AAC: the output container "
            "cannot hold their codec as it is"
        )
    if options.encode.audio == "drop" or not stats.audio_packets:
        dropped = " (--audio drop)" if options.encode.audio == "drop" else ""
        report.warnings.append("no audio in the output" + dropped)
