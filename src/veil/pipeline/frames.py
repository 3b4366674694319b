"""Photos with several frames: an animated GIF, WebP or PNG, or a multi-page TIFF. Every
frame is covered the way a video's are: faces are detected in each frame and linked into
tracks (so a mask holds through a frame the detector misses), the leak audit looks at every
rendered frame, and the frames are written back with their timing and no metadata.
"""

from __future__ import annotations

import numpy as np

from .. import formats
from ..audit import find_leaks
from ..detect.confirm import Looked
from ..errors import VeilError
from ..masks import draw_masks
from ..media.image import DecodedImage, encode_frames, output_format
from ..media.metadata import check_output
from ..options import Options
from ..plan import ImagePlan, VideoPlan
from ..report import FileReport, StageTimer
from .cuts import colour_signature, scene_cuts
from .models import Models, faint_warning, models_for, run_detector, text_finder
from .video import count_tracks, plan_tracks


def detect_frames(decoded: DecodedImage, models: Models, options: Options) -> VideoPlan:
    """The tracks of faces (and of the plates and lines --cover asks for, looked for in
    every frame) through the frames (a video plan: one box per frame)."""
    assert decoded.frames is not None
    height, width = decoded.pixels.shape[:2]
    per_frame = [run_detector(models.detector, frame) for frame in decoded.frames]
    cuts = scene_cuts([colour_signature(frame) for frame in decoded.frames])
    find = text_finder(options, models, still=False)
    text = None if find is None else {i: find(f) for i, f in enumerate(decoded.frames)}
    return plan_tracks(per_frame, width, height, models.detector.name,
                       min_score=options.detect.min_score, cuts=cuts, text=text)


def anonymize_frames(
    decoded: DecodedImage, options: Options, plan: VideoPlan | ImagePlan | None,
    models: Models | None, report: FileReport, timer: StageTimer,
) -> tuple[bytes, str, VideoPlan]:
    """Detect (unless a plan is given), cover, audit and encode every frame."""
    assert decoded.frames is not None
    height, width = decoded.pixels.shape[:2]
    if isinstance(plan, ImagePlan):
        raise VeilError(f"this file has {len(decoded.frames)} frames: its plan must have "
                        "tracks (as veil detect writes for it), not one photo's regions")
    if plan is not None and (plan.width, plan.height, plan.frames) != (
            width, height, len(decoded.frames)):
        raise VeilError(f"plan is for {plan.frames} frames of {plan.width}x{plan.height}, not "
                        f"{len(decoded.frames)} of {width}x{height}")
    audit = options.detect.audit and plan is None
    models = models_for(options, plan is not None, models)
    with timer.stage("detect"):
        if plan is None:
            assert models is not None
            plan = detect_frames(decoded, models, options)
            report.backend = models.backend
    rng = np.random.default_rng()
    with timer.stage("render"):
        rendered = _render(decoded.frames, plan, options, rng)
    with timer.stage("audit"):
        if audit and models is not None and models.auditor is not None:
            rendered = _audit(decoded.frames, rendered, plan, models, options, report, rng)
    with timer.stage("encode"):
        fmt = _format(decoded, options, report)
        data = encode_frames(rendered, fmt, decoded.durations or [], decoded.loop)
        check_output(data, width, height)
    _describe(report, plan, fmt.name, options)
    return data, fmt.name, plan


def _render(frames: list[np.ndarray], plan: VideoPlan, options: Options,
            rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for frame, regions in zip(frames, plan.regions_by_frame(), strict=True):
        copy = frame.copy()
        draw_masks(copy, regions, options.mask, rng)
        out.append(copy)
    return out


def _audit(frames: list[np.ndarray], rendered: list[np.ndarray], plan: VideoPlan,
           models: Models, options: Options, report: FileReport,
           rng: np.random.Generator) -> list[np.ndarray]:
    """Look at every rendered frame for a face left visible; cover what is found (as a
    region on that frame) and render the frame again."""
    assert models.auditor is not None
    found = []
    looked = Looked()
    by_frame = plan.regions_by_frame()
    for index, pixels in enumerate(rendered):
        height, width = pixels.shape[:2]
        shown = ImagePlan(width, height, list(by_frame[index]))
        leaks = find_leaks(pixels, shown, models.auditor, options.mask, models.second_look, looked)
        leaks = [leak for leak in leaks if leak.score >= options.detect.min_score]
        if not leaks:
            continue
        plan.regions.extend((index, index, leak) for leak in leaks)
        found += [[index, *leak.to_json()["box"]] for leak in leaks]
        again = frames[index].copy()
        draw_masks(again, by_frame[index] + leaks, options.mask, rng)
        rendered[index] = again
    report.audit = {"ran": True, "found": found, "still_visible": 0,
                    "second_look": looked.as_dict()}
    return rendered


def _format(decoded: DecodedImage, options: Options, report: FileReport) -> formats.Format:
    """Frames stay in their own format unless --format asks (GIF stays GIF: one frame of
    it would be written as PNG)."""
    fmt = output_format(decoded.format, options.encode.format)
    if options.encode.format is None and decoded.format.frames:
        fmt = decoded.format
    if fmt.name != decoded.format.name:
        report.warnings.append(f"written as {fmt.name} (input was {decoded.source_format})")
    report.output_format = fmt.name
    return fmt


def _describe(report: FileReport, plan: VideoPlan, written: str, options: Options) -> None:
    count_tracks(report, plan)
    report.masks = [{"frames": plan.frames, "shape": options.mask.shape,
                     "style": options.mask.style, "written_as": written}]
    report.warnings += faint_warning(options)
