"""Both passes of a video at once, on a host with many cores (a GPU server).

pipeline/video.py detects a whole video and then renders it, so end to end runs at
1 / (1/d + 1/r) for passes of d and r frames a second, and a GPU host's cores sit idle while
the GPU detects. Here detection runs on spans of the video, a few at once and in order, and
as soon as the spans from the start are done, the parts of the video far enough behind the
last of them (track.settled_after) are rendered in other processes from the plan so far.

A frame's masks can still change after that: a track's best score, seen later, changes the
margin of its sure boxes (masks.geometry), --min-score may keep a track it had dropped, and
hits seen later lengthen a weak track's lead. So when detection ends, each part rendered
early is compared with the whole plan, every frame's regions as they are drawn, and rendered
again where anything differs: the output is what the two passes in turn write, and the plan
and report are theirs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from types import TracebackType
from typing import Any

from ..detect.text import FoundText
from ..errors import InputError, PartsDoNotJoin, VeilError
from ..masks import geometry
from ..media.files import part_path
from ..media.video import EncodeStats, VideoInfo, join_video_parts
from ..options import MaskOptions, Options
from ..plan import VideoPlan, VideoTrack
from ..report import FileReport
from ..track import Linker, TrackOptions, settled_after
from .cuts import SceneCuts
from .models import Models
from .video import (
    PART_ALIGN,
    RenderedPart,
    VideoSpan,
    cores_each,
    detect_video_span,
    face_track,
    parts_here,
    render_video_part,
    schedule_of,
    span_align,
    span_counters,
    spans_report,
    tracks_plan,
    video_spans,
)

# Spans and parts: about this many for each worker, so that rendering starts after the
# first few spans, and none shorter than MIN_FRAMES (each starts its decoder at a keyframe).
PIECES_PER_WORKER = 4
MIN_FRAMES = 32
# The render processes' priority below detection's (os.nice): a GPU waits on the threads
# that feed it, and the parts rendered early only fill the cores detection leaves.
RENDER_NICENESS = 10
# Frames behind the last detected one before a part is rendered early.
LOOKAHEAD = settled_after(TrackOptions())


@dataclass
class Overlapped:
    """What detect_and_render did: the whole plan, and the output's encoder counts and
    masked frames (None: its parts could not be joined, so the caller renders it whole)."""

    plan: VideoPlan
    rendered: tuple[EncodeStats, int] | None
    detected: float  # seconds from the start until the whole plan was made
    seconds: float  # and until the output was written
    spans: int  # of detection
    parts: int  # rendered and joined
    early: int  # parts rendered from the plan so far
    redone: int  # of those, rendered again from the whole plan


def pieces(frames: int, workers: int, align: int) -> list[tuple[int, int | None]]:
    """A video's spans (or parts) for overlapped passes: start and stop frames."""
    count = min(workers * PIECES_PER_WORKER, frames // MIN_FRAMES)
    return video_spans(frames, max(count, workers), align)


def detect_and_render(src: Path, dst: Path, models: Models, options: Options, info: VideoInfo,
                      frames: int, threads: int, report: FileReport,
                      progress: Callable[[int], None] | None = None) -> Overlapped:
    """Pass one and pass two of anonymize_video for a video of `frames` frames (its
    container's count), overlapped; `report` gets what the detection pass says (backend,
    audit). On any error nothing is left at `dst`."""
    began = time.perf_counter()
    workers = parts_here(threads, frames)
    each = cores_each(threads, workers)
    spans = pieces(frames, workers, span_align(schedule_of(models)))
    counters = span_counters(len(spans), progress)
    parts = _Parts(src, dst, options, pieces(frames, workers, PART_ALIGN), workers, each)
    with ThreadPoolExecutor(workers, thread_name_prefix="veil-span") as pool, parts:
        futures = [pool.submit(detect_video_span, src, models, a, b, options, each, counters[k])
                   for k, (a, b) in enumerate(spans)]
        try:
            plan = _plan_rendering_early(futures, options, parts, report)
        finally:
            for future in futures:
                future.cancel()
        detected = time.perf_counter() - began
        rendered = parts.finish(plan)
    return Overlapped(plan, rendered, detected, time.perf_counter() - began, len(spans),
                      len(parts.bounds), parts.early, parts.redone)


def _plan_rendering_early(futures: list[Future[VideoSpan]], options: Options,
                          parts: _Parts, report: FileReport) -> VideoPlan:
    """The whole plan, from the spans in order; meanwhile, each part whose frames are
    LOOKAHEAD frames behind the spans done goes to render from the plan so far."""
    so_far = PlanSoFar(options.detect.min_score)
    for future in futures[:-1]:
        so_far.add(future.result())
        settled = so_far.frames - LOOKAHEAD
        if parts.waiting(settled):
            parts.render_early(so_far.plan(), settled)
    so_far.add(futures[-1].result())
    return so_far.plan(report)


class PlanSoFar:
    """join_spans, a span at a time, in order: the plan of the frames so far, as the
    whole video's would be made of them. Linking is a frame at a time anyway, and a track
    that can go on no longer (none of its boxes can change) is made into a mask once, so a
    long video's plans so far do not each cost a whole plan's time."""

    def __init__(self, min_score: float, track: TrackOptions | None = None) -> None:
        self.min_score, self.track = min_score, track or TrackOptions()
        self.linker = Linker(self.track)
        self.cuts = SceneCuts()
        self.spans: list[VideoSpan] = []
        self.text: dict[int, list[FoundText]] = {}
        self.closed: dict[int, VideoTrack] = {}  # track id -> its mask, final

    @property
    def frames(self) -> int:
        return self.cuts.frames

    def add(self, span: VideoSpan) -> None:
        """The next span (a span past the video's end is empty)."""
        if not span.per_frame:
            return
        if span.start != self.frames:
            raise VeilError(f"the spans of this video do not join at frame {self.frames}")
        for index, (dets, signature) in enumerate(zip(span.per_frame, span.signatures,
                                                      strict=True), span.start):
            self.linker.add(index, dets, self.cuts.add(signature))
        # kept for what the report says of them, not for their boxes: the linker has those
        self.spans.append(replace(span, per_frame=[], signatures=[], text={}))
        self.text.update(span.text)

    def plan(self, report: FileReport | None = None) -> VideoPlan:
        """The plan of the frames so far; `report` gets what the spans say (backend, audit)."""
        if not self.spans:
            raise InputError("video has no decodable frames")
        first, count, cuts = self.spans[0], self.frames, self.cuts.cuts
        going_on = {id(t) for t in self.linker.active}
        tracks = []
        for linked in self.linker.tracks:
            if id(linked) in going_on:
                tracks.append(face_track(linked, count, self.track, cuts, first.source))
                continue
            if linked.id not in self.closed:
                self.closed[linked.id] = face_track(linked, count, self.track, cuts,
                                                    first.source)
            tracks.append(self.closed[linked.id])
        if report is not None:
            spans_report(self.spans, report)
        return tracks_plan(tracks, first.width, first.height, count, self.track,
                           self.min_score, cuts, self.text)


class _Parts:
    """Pass two in parts, on processes: some early from a plan so far (each frame's regions
    as drawn kept, to compare with the whole plan's), the rest once the plan is whole."""

    def __init__(self, src: Path, dst: Path, options: Options,
                 bounds: list[tuple[int, int | None]], workers: int, threads: int) -> None:
        self.src, self.dst, self.options, self.bounds = src, dst, options, bounds
        self.threads = threads
        # Processes, not threads: each frame's conversions and the muxing take the GIL.
        self.pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                                        initializer=_behind_detection)
        for _ in range(workers):  # started now: their imports overlap the first spans
            self.pool.submit(_ready)
        self.paths: list[Path] = []
        # part -> (its rendering, its file, each frame's regions as drawn when it was early)
        self.sent: dict[int, tuple[Future[RenderedPart], Path, list[Any] | None]] = {}
        self.early = self.redone = 0

    def __enter__(self) -> _Parts:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        for path in self.paths:
            path.unlink(missing_ok=True)

    def waiting(self, settled: int) -> list[int]:
        """The parts not yet sent that end at or before frame `settled`."""
        return [k for k, (_, stop) in enumerate(self.bounds)
                if k not in self.sent and stop is not None and stop <= settled]

    def render_early(self, plan: VideoPlan, settled: int) -> None:
        for k in self.waiting(settled):
            self._send(k, plan, early=True)
            self.early += 1

    def finish(self, plan: VideoPlan) -> tuple[EncodeStats, int] | None:
        """Every part from the whole `plan` (those rendered early and still right kept),
        joined into the output; None when the parts cannot be joined."""
        # the whole plan as drawn, only where a part was rendered early to compare with it
        drawn = drawn_by_frame(plan, self.options.mask) if self.sent else []
        for k, (future, _, early) in list(self.sent.items()):
            start, stop = self.bounds[k]
            if early is not None and early != drawn[start:stop]:
                future.cancel()
                self._send(k, plan, early=False)
                self.redone += 1
        for k in range(len(self.bounds)):
            if k not in self.sent:
                self._send(k, plan, early=False)
        rendered = [self.sent[k][0].result() for k in range(len(self.bounds))]
        if sum(p.frames for p in rendered) != plan.frames:
            raise VeilError(f"rendered {sum(p.frames for p in rendered)} frames but the plan "
                            f"has {plan.frames}; no output written")
        try:
            stats = join_video_parts(self.src, [Path(p.path) for p in rendered], self.dst,
                                     self.options.encode, self.options.limits)
        except PartsDoNotJoin:
            return None
        return stats, sum(p.frames_masked for p in rendered)

    def _send(self, k: int, plan: VideoPlan, early: bool) -> None:
        start, stop = self.bounds[k]
        piece = plan_piece(plan, start, stop)
        path = part_path(self.dst.parent)
        self.paths.append(path)
        future = self.pool.submit(render_video_part, self.src, path, piece, self.options,
                                  start, stop, self.threads)
        drawn = drawn_by_frame(piece, self.options.mask)[start:stop] if early else None
        self.sent[k] = (future, path, drawn)


def _behind_detection() -> None:
    """A part's process yields the cores to detection, which everything waits on."""
    with suppress(OSError):
        os.nice(RENDER_NICENESS)


def _ready() -> None:
    """Nothing: a part's process has imported veil once it can run this."""


def plan_piece(plan: VideoPlan, start: int, stop: int | None) -> VideoPlan:
    """What `plan` covers in frames `start` to `stop` (None: the end) and nothing else, as
    a plan of the whole video up to `stop`: all a part's process needs of it."""
    end = plan.frames if stop is None else min(stop, plan.frames)
    tracks = []
    for track in plan.tracks:
        boxes = {f: b for f, b in track.boxes.items() if start <= f < end}
        if boxes:
            tracks.append(VideoTrack(track.id, boxes, track.keep, track.source, track.score,
                                     track.category, {f for f in track.sure if f in boxes}))
    regions = [(max(a, start), min(b, end - 1), r) for a, b, r in plan.regions
               if a < end and b >= start]
    return VideoPlan(plan.width, plan.height, end, tracks, regions)


def drawn_by_frame(plan: VideoPlan, mask: MaskOptions) -> list[list[tuple[Any, ...]]]:
    """Each frame's regions as they are drawn (box, margin and shape, in order): what
    decides the pixels of a rendered frame."""
    return [[(r.x1, r.y1, r.x2, r.y2, *geometry(r, mask.margin, mask.shape)) for r in regions]
            for regions in plan.regions_by_frame()]
