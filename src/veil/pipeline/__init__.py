"""The engine: photos (pipeline.photo), videos (pipeline.video) and the model cache
(pipeline.models). Every front end (CLI, Python API, service) calls these functions, through
the `veil` package, and nothing below them.
"""

from ..detect.runtime import resolve_device
from ..media.encoders import check_encoder
from ..media.files import part_path
from ..media.video import VideoInfo, count_packets, probe_video
from .inspect import Inspection, inspect_file
from .models import (
    Models,
    load_detector,
    load_models,
    load_video_models,
    text_finder,
)
from .photo import (
    AnonymizedImage,
    anonymize_file,
    anonymize_image,
    detect_image,
    plan_image,
    preview_image,
    read_image,
    read_input,
    render_image,
)
from .video import (
    PART_ALIGN,
    SPAN_ALIGN,
    RenderedPart,
    VideoSpan,
    anonymize_video,
    detect_video,
    detect_video_span,
    join_spans,
    join_video,
    plan_video,
    render_video_part,
    video_spans,
)

__all__ = [
    "PART_ALIGN",
    "SPAN_ALIGN",
    "AnonymizedImage",
    "Inspection",
    "Models",
    "RenderedPart",
    "VideoInfo",
    "VideoSpan",
    "anonymize_file",
    "anonymize_image",
    "anonymize_video",
    "check_encoder",
    "detect_image",
    "detect_video",
    "count_packets",
    "detect_video_span",
    "join_spans",
    "join_video",
    "plan_video",
    "render_video_part",
    "part_path",
    "resolve_device",
    "video_spans",
    "probe_video",
    "inspect_file",
    "load_detector",
    "load_models",
    "load_video_models",
    "text_finder",
    "plan_image",
    "preview_image",
    "read_image",
    "read_input",
    "render_image",
]
