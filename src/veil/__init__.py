"""veil: make photos and videos safe to share. Finds where faces are, covers them, strips
metadata. This module is the public engine: the CLI, the service and any program that uses
veil call what it exports and nothing below it.

veil computes one thing about a face: where it is. It never recognises, matches or
classifies people, and no output or API returns face crops.
"""

from __future__ import annotations

from ._version import __version__
from .batch import Batch, BatchJob, check_side_file, plan_batch, remove_stale_parts
from .errors import (
    InputError,
    InternalError,
    PartsDoNotJoin,
    RefusedError,
    SetupError,
    VeilError,
)
from .options import DetectOptions, EncodeOptions, Limits, MaskOptions, Options
from .pipeline import (
    PART_ALIGN,
    SPAN_ALIGN,
    AnonymizedImage,
    Inspection,
    Models,
    RenderedPart,
    VideoInfo,
    VideoSpan,
    anonymize_file,
    anonymize_image,
    anonymize_video,
    check_encoder,
    count_packets,
    detect_image,
    detect_video,
    detect_video_span,
    inspect_file,
    join_spans,
    join_video,
    load_detector,
    load_models,
    load_video_models,
    part_path,
    plan_image,
    plan_video,
    preview_image,
    probe_video,
    read_image,
    read_input,
    render_image,
    render_video_part,
    resolve_device,
    text_finder,
    video_spans,
)
from .plan import (
    ImagePlan,
    PlanSet,
    Region,
    VideoPlan,
    VideoTrack,
    parse_plan_json,
    plan_from_json,
)
from .report import FileReport, RunReport

__all__ = [
    "__version__",
    # options
    "Options",
    "MaskOptions",
    "DetectOptions",
    "EncodeOptions",
    "Limits",
    # photos
    "AnonymizedImage",
    "anonymize_file",
    "anonymize_image",
    "detect_image",
    "plan_image",
    "preview_image",
    "read_image",
    "read_input",
    "render_image",
    # what a file carries
    "Inspection",
    "inspect_file",
    # batches of files and folders
    "Batch",
    "BatchJob",
    "plan_batch",
    "check_side_file",
    "remove_stale_parts",
    "part_path",
    # videos
    "anonymize_video",
    "check_encoder",
    "detect_video",
    "probe_video",
    "count_packets",
    "VideoInfo",
    # one video in parts on several machines (veil.scale): detection in spans, then
    # rendering and encoding in parts joined without encoding again
    "PART_ALIGN",
    "SPAN_ALIGN",
    "VideoSpan",
    "detect_video_span",
    "join_spans",
    "RenderedPart",
    "render_video_part",
    "video_spans",
    "resolve_device",
    "join_video",
    "plan_video",
    "PartsDoNotJoin",
    # models
    "Models",
    "load_detector",
    "load_models",
    "load_video_models",
    "text_finder",
    # plans and reports
    "ImagePlan",
    "VideoPlan",
    "VideoTrack",
    "PlanSet",
    "Region",
    "parse_plan_json",
    "plan_from_json",
    "FileReport",
    "RunReport",
    # errors
    "VeilError",
    "InputError",
    "RefusedError",
    "InternalError",
    "SetupError",
]
