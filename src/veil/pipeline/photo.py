"""The photo engine: decode, detect (or take a plan), render, audit, encode, check.

No file walking and no option parsing: front ends hand it bytes or a path and an Options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import formats
from ..audit import find_leaks
from ..detect.base import Detector
from ..detect.confirm import Looked
from ..errors import InputError, RefusedError, VeilError, one_file
from ..masks import SURE_SCORE, coverage, draw_masks, geometry, mask_box
from ..media.files import check_regular, refuse_overwrite, write_atomic
from ..media.image import DecodedImage, decode_image, encode_image, output_format
from ..media.metadata import check_output, entry_names
from ..options import MaskOptions, Options
from ..plan import ImagePlan, Region, VideoPlan
from ..report import FACE_SCORE, FileReport, StageTimer, mostly_masked_warning
from .frames import anonymize_frames, detect_frames
from .models import (
    Models,
    confirm_weak,
    faint_warning,
    find_text_regions,
    load_models,
    models_for,
    run_detector,
)

# The longest side of a preview (a screen needs no more; the review page scales it down).
PREVIEW_SIDE = 2560


def detect_image(
    pixels: np.ndarray,
    detector: Detector,
    second_look: Detector | None = None,
    report: FileReport | None = None,
) -> ImagePlan:
    """Find faces in RGB(A) pixels and return the plan that covers them all. With a
    `second_look`, weak candidates too big to be cheap are looked at again first
    (detect/confirm.py); `report` gets what it decided."""
    height, width = pixels.shape[:2]
    dets = run_detector(detector, pixels)
    if second_look is not None:
        dets, looked = confirm_weak(second_look, pixels, dets, SURE_SCORE)
        if report is not None:
            report.second_look = looked.as_dict()
    regions = [
        Region(float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(score), source)
        for b, score, source in zip(dets.boxes, dets.scores, dets.sources, strict=True)
    ]
    return ImagePlan(width, height, regions)


def render_image(
    pixels: np.ndarray,
    plan: ImagePlan,
    mask: MaskOptions | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A copy of `pixels` with every region of the plan covered (regions marked keep are not)."""
    height, width = pixels.shape[:2]
    if (plan.width, plan.height) != (width, height):
        raise VeilError(
            f"plan is for a {plan.width}x{plan.height} image but this one is {width}x{height}"
        )
    out = pixels.copy()
    draw_masks(out, plan.to_cover, mask or MaskOptions(), rng)
    return out


@one_file
def plan_image(
    data: bytes, options: Options | None = None, models: Models | None = None
) -> ImagePlan | VideoPlan:
    """Decode an encoded photo upright, as anonymize_image does, and return its plan (for an
    animation or a multi-page file: its tracks through the frames)."""
    options = options or Options()
    decoded = decode_image(data, options.limits)
    models = models or load_models(options.detect.profile, backend=options.detect.backend,
                                   device=options.detect.device)
    if decoded.frames is not None:
        return detect_frames(decoded, models, options)
    plan = detect_image(decoded.pixels, models.detector, models.second_look)
    plan.drop_faint(options.detect.min_score)
    plan.regions += find_text_regions(decoded.pixels, options, models)
    return plan


@dataclass
class AnonymizedImage:
    """An encoded, checked output and what was done to make it."""

    data: bytes
    format: str  # the format written: JPEG, PNG, WEBP, TIFF or GIF
    plan: ImagePlan | VideoPlan  # a video plan for an animation or a multi-page file
    report: FileReport


@one_file
def anonymize_image(
    data: bytes,
    options: Options | None = None,
    *,
    plan: ImagePlan | VideoPlan | None = None,
    models: Models | None = None,
    name: str = "<bytes>",
) -> AnonymizedImage:
    """Anonymize one encoded photo: every face covered, encoded from pixels only.

    With `plan`, renders that plan and detects nothing (no audit either). Otherwise detects
    with `models` (default: the options' profile, from the model cache), renders, and, when
    the options ask for the audit, looks at the rendered pixels again for faces left
    visible, adds them and renders again. Raises VeilError (with a one-line reason) instead
    of ever returning unmasked pixels or original metadata.
    """
    options = options or Options()
    report = FileReport(input=name)
    timer = StageTimer()
    with timer.stage("decode"):
        decoded = _decode(data, options, report)
    if decoded.frames is not None:  # an animation or pages: each frame, tracked
        out, fmt, tracked = anonymize_frames(decoded, options, plan, models, report, timer)
        report.timings = timer.timings()
        return AnonymizedImage(out, fmt, tracked, report)
    if isinstance(plan, VideoPlan):
        raise VeilError("the plan for this file is for frames (tracks); it has one picture")
    audit = options.detect.audit and plan is None
    detecting = plan is None
    models = models_for(options, plan is not None, models)
    with timer.stage("detect"):
        if plan is None:
            assert models is not None
            plan = detect_image(decoded.pixels, models.detector, models.second_look, report)
            plan.drop_faint(options.detect.min_score)
            report.backend = models.backend
    with timer.stage("text"):
        if detecting:
            plan.regions += find_text_regions(decoded.pixels, options, models)
    with timer.stage("render"):
        rendered = render_image(decoded.pixels, plan, options.mask)
    with timer.stage("audit"):
        if audit and models is not None and models.auditor is not None:
            rendered = _audit(decoded.pixels, rendered, plan, models, options, report)
    with timer.stage("encode"):
        out, fmt = _encode(rendered, decoded, options, report)
    _describe(report, plan, options.mask, rendered.shape[1], rendered.shape[0])
    report.warnings += faint_warning(options)
    report.timings = timer.timings()
    return AnonymizedImage(out, fmt, plan, report)


def _decode(data: bytes, options: Options, report: FileReport) -> DecodedImage:
    decoded = decode_image(data, options.limits)  # first: it refuses what is not safe to open
    report.metadata_removed = entry_names(decoded.metadata)
    report.height, report.width = decoded.pixels.shape[:2]
    report.input_format = decoded.source_format
    report.warnings.extend(decoded.notes)
    return decoded


def _encode(
    rendered: np.ndarray, decoded: DecodedImage, options: Options, report: FileReport
) -> tuple[bytes, str]:
    """Encode from pixels alone and check the result; returns the bytes and the format."""
    fmt = output_format(decoded.format, options.encode.format)
    if fmt.name != decoded.format.name:
        report.warnings.append(f"written as {fmt.name} (input was {decoded.source_format})")
    out, notes = encode_image(rendered, fmt)
    report.warnings.extend(notes)
    check_output(out, rendered.shape[1], rendered.shape[0])
    report.output_format = fmt.name
    return out, fmt.name


def _describe(
    report: FileReport, plan: ImagePlan, mask: MaskOptions, width: int, height: int
) -> None:
    """The plan's regions and the masks drawn, as the report lists them (geometry only)."""
    listed = [{k: v for k, v in r.to_json().items() if k != "keep"} for r in plan.regions]
    report.faces = [r for r in listed if "category" not in r]
    report.plates_and_text = [r for r in listed if "category" in r]
    report.kept_visible = sum(r.keep for r in plan.regions)
    report.faces_found = sum(r.score >= FACE_SCORE and r.category == "face"
                             for r in plan.regions)
    report.regions_masked = len(plan.to_cover)
    report.masks = []
    for region in plan.to_cover:
        margin, shape = geometry(region, mask.margin, mask.shape)
        box = mask_box(region, margin, width, height)
        report.masks.append({"box": list(box), "shape": shape, "style": mask.style})
    covered = coverage(height, width, plan.to_cover, mask.margin, mask.shape)
    report.masked_share = round(float(covered.mean()), 4)  # decoding refuses empty images
    faint = sum(r.category == "face" and r.score < FACE_SCORE and r.source != "person"
                for r in plan.to_cover)
    heavy = mostly_masked_warning(report.masked_share, faint, len(plan.to_cover))
    if heavy:
        report.warnings.append(heavy)


def _audit(
    pixels: np.ndarray,
    rendered: np.ndarray,
    plan: ImagePlan,
    models: Models,
    options: Options,
    report: FileReport,
) -> np.ndarray:
    """Check the rendered pixels for visible faces; cover what is found and render again."""
    auditor = models.auditor
    assert auditor is not None
    looked = Looked()

    def leaks_in(rendered: np.ndarray) -> list[Region]:
        try:
            leaks = find_leaks(rendered, plan, auditor, options.mask, models.second_look, looked)
        except Exception as exc:  # an audit that cannot run is a failure, not a pass
            raise VeilError(f"leak audit failed: {type(exc).__name__}: {exc}") from exc
        return [leak for leak in leaks if leak.score >= options.detect.min_score]

    leaks = leaks_in(rendered)
    report.audit = {"ran": True, "found": [r.to_json()["box"] for r in leaks], "still_visible": 0,
                    "second_look": looked.as_dict()}
    if not leaks:
        return rendered
    plan.regions.extend(leaks)
    rendered = render_image(pixels, plan, options.mask)
    if options.detect.strict:
        still = leaks_in(rendered)
        report.audit["still_visible"] = len(still)
        if still:
            raise RefusedError(
                f"--strict: the leak audit still sees {len(still)} face(s) after covering "
                f"{len(leaks)} it found; no output written"
            )
    return rendered


def read_input(src: Path) -> bytes:
    """The bytes of an input file; InputError with a one-line reason when it cannot be read."""
    check_regular(Path(src))
    try:
        return Path(src).read_bytes()
    except IsADirectoryError as exc:
        raise InputError("is a directory") from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from exc


@one_file
def read_image(src: Path | str | bytes, options: Options | None = None) -> np.ndarray:
    """A photo's pixels as veil sees them: upright (EXIF orientation applied), sRGB, 8-bit
    RGB or RGBA, after the same format and size checks as anonymizing. `src` is a path or
    the file's bytes."""
    options = options or Options()
    data = src if isinstance(src, bytes) else read_input(Path(src))
    return decode_image(data, options.limits).pixels


def preview_image(src: Path | str | bytes, options: Options | None = None,
                  longest: int = PREVIEW_SIDE) -> bytes:
    """A JPEG of a photo for a screen: its first frame as read_image reads it, at most
    `longest` px a side, transparency flattened onto white. For showing a result in a
    format browsers do not (the review page's TIFF results); the bytes hold pixels only."""
    pixels = read_image(src, options)
    height, width = pixels.shape[:2]
    scale = longest / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    data, _ = encode_image(pixels, formats.by_name("JPEG"))
    return data


@one_file
def anonymize_file(
    src: Path,
    dst: Path | Callable[[str], Path],
    options: Options | None = None,
    *,
    plan: ImagePlan | VideoPlan | None = None,
    models: Models | None = None,
    name: str | None = None,
) -> AnonymizedImage:
    """Anonymize the photo at `src` into `dst`, written atomically (all or nothing).

    `dst` may be a function of the format written (JPEG, PNG...) that returns the path, for
    callers whose file name depends on what was written.
    """
    src = Path(src)
    result = anonymize_image(
        read_input(src), options, plan=plan, models=models, name=name or str(src)
    )
    target = dst(result.format) if callable(dst) else Path(dst)
    refuse_overwrite(src, target)
    try:
        write_atomic(target, result.data)
    except OSError as exc:
        raise VeilError(f"cannot write {target}: {exc.strerror or exc}") from exc
    result.report.output = str(target)
    return result
