"""The `veil` command: anonymize photos and folders, write or apply mask plans."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import ImageColor

from . import __version__
from .detect.base import Detector
from .errors import SetupError, VeilError
from .masks import DEFAULT_MARGIN, MaskStyleOptions
from .media.image import DEFAULT_MAX_PIXELS, EXTENSIONS, PHOTO_SUFFIXES, write_atomic
from .media.video import VIDEO_SUFFIXES, EncodeOptions
from .pipeline import (
    anonymize_file,
    anonymize_video,
    detect_image,
    detect_video,
    load_auditor,
    load_detector,
    load_video_detector,
)
from .plan import ImagePlan, PlanSet, VideoPlan
from .profiles import DEFAULT_MIN_FACE, DEFAULT_PROFILE, PHOTO_PROFILES, SMALLEST_DETECTABLE
from .report import FileReport, RunReport

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
SUFFIX = ".veiled"
BLUR_WARNING = (
    "warning: --mask blur can be partly reversed by learned models; "
    "use solid or mosaic for anything published"
)


@dataclass
class Job:
    """One input file, its key in plans and reports, and where its output goes."""

    src: Path
    key: str  # path relative to the input root (a file's own name when given directly)
    out_dir: Path | None  # write here, mirroring `key`
    out_file: Path | None  # or exactly here


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="veil",
        description="Cover every face in photos irreversibly and remove identifying metadata. "
        "'veil detect INPUT...' writes the mask plan instead, for a person to review.",
    )
    p.add_argument("inputs", nargs="*", type=Path, help="photos or folders (walked recursively)")
    p.add_argument("-o", "--output", help="output file, or folder (existing, or ending in /)")
    p.add_argument(
        "--format",
        choices=["jpg", "png", "webp"],
        help="output format (default: keep the input's; HEIC/AVIF become JPEG)",
    )
    p.add_argument(
        "--mask",
        choices=["solid", "mosaic", "blur"],
        default="solid",
        help="solid fill (default), coarse mosaic with noise, or blur (reversible!)",
    )
    p.add_argument(
        "--color", default="black", help="fill colour for --mask solid (name or #rrggbb)"
    )
    p.add_argument("--shape", choices=["ellipse", "box"], default="ellipse")
    p.add_argument(
        "--margin",
        type=float,
        default=DEFAULT_MARGIN,
        help=f"how far past each face box the mask reaches, as a share of the box's "
        f"size on each side (default {DEFAULT_MARGIN})",
    )
    p.add_argument(
        "--audio",
        choices=["copy", "drop"],
        default="copy",
        help="videos: copy the sound bit for bit (default) or drop it",
    )
    p.add_argument("--codec", default="libx264", help="videos: FFmpeg video encoder (libx264)")
    p.add_argument("--crf", type=int, default=20, help="videos: encoder quality (x264 CRF, 20)")
    p.add_argument("--preset", default="veryfast", help="videos: encoder preset (veryfast)")
    p.add_argument(
        "--min-face",
        type=float,
        default=DEFAULT_MIN_FACE,
        help=f"videos: height in pixels of the smallest face to catch (default "
        f"{DEFAULT_MIN_FACE:g}); detection runs on a frame scaled so such a face is "
        f"{SMALLEST_DETECTABLE:g} px, so a larger value is faster",
    )
    p.add_argument("--plan-out", type=Path, help="also write the mask plan (JSON) here")
    p.add_argument("--plan-in", type=Path, help="render this (reviewed) plan; detect nothing")
    p.add_argument("--report", type=Path, help="write a JSON report of the run here")
    p.add_argument(
        "--profile",
        choices=list(PHOTO_PROFILES),
        default=DEFAULT_PROFILE,
        help=f"detection effort (default {DEFAULT_PROFILE}; see README for figures)",
    )
    p.add_argument(
        "--no-audit",
        action="store_true",
        help="skip the leak audit (a second look at the output for visible faces)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail a file (no output) if the leak audit still finds a visible face",
    )
    p.add_argument("--threads", type=int, default=0, help="inference threads (0: all cores)")
    p.add_argument(
        "--max-megapixels",
        type=float,
        default=DEFAULT_MAX_PIXELS / 1e6,
        help="refuse larger images (decompression-bomb guard; default 100)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--example",
        action="store_true",
        help="anonymize the bundled example photo (written to -o, default ./veil-example/)",
    )
    p.add_argument("--version", action="version", version=f"veil {__version__}")
    args = p.parse_args(argv)
    if not args.inputs and not args.example:
        p.error("give at least one photo or folder (or --example)")
    if args.min_face < 1:
        p.error("--min-face must be at least 1 pixel")
    if args.margin < 0 or args.margin > 3:
        p.error("--margin must be between 0 and 3")
    try:
        args.rgb = ImageColor.getrgb(args.color)[:3]
    except ValueError:
        p.error(f"--color: not a colour: {args.color!r}")
    return args


def walk(root: Path) -> Iterator[Path]:
    """Photos under a folder, sorted, skipping hidden files and veil's own outputs."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or SUFFIX + "." in name:
                continue
            if path.suffix.lower() in PHOTO_SUFFIXES | VIDEO_SUFFIXES:
                yield path


def plan_jobs(inputs: Sequence[Path], output: str | None) -> list[Job]:
    """Map inputs to outputs; raise VeilError when the request cannot be satisfied."""
    out_is_dir = output is not None and (output.endswith(("/", os.sep)) or Path(output).is_dir())
    if output is not None and not out_is_dir and (len(inputs) > 1 or inputs[0].is_dir()):
        if len(inputs) > 1 or Path(output).exists():
            raise VeilError("-o must be a folder when there are several inputs or a folder input")
        out_is_dir = True  # `veil DIR -o NEW` creates the folder NEW
    jobs: list[Job] = []
    for item in inputs:
        if item.is_dir():
            base = Path(output) if output else item.with_name(item.name + SUFFIX)
            for path in walk(item):
                key = path.relative_to(item).as_posix()
                jobs.append(Job(path, key, base, None))
        else:
            if output is None:
                jobs.append(Job(item, item.name, item.parent, None))
            elif out_is_dir:
                jobs.append(Job(item, item.name, Path(output), None))
            else:
                jobs.append(Job(item, item.name, None, Path(output)))
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        raise VeilError("two inputs share a name; run them separately or pass their folder")
    return jobs


def destination(job: Job, fmt: str, requested: bool) -> Path:
    """Where a job's output goes, with the extension of the format actually written."""
    if job.out_file is not None:
        return job.out_file
    assert job.out_dir is not None
    rel = Path(job.key)
    suffix = rel.suffix
    if fmt == "MP4":
        suffix = ".mp4"  # H.264 in MP4 whatever the input container
    elif requested or EXTENSIONS.get(fmt) is None or _format_of_suffix(suffix) != fmt:
        suffix = EXTENSIONS.get(fmt, suffix)
    name = rel.stem + (SUFFIX if job.out_dir == job.src.parent else "") + suffix
    return job.out_dir / rel.parent / name


def _format_of_suffix(suffix: str) -> str | None:
    s = suffix.lower()
    return {
        ".jpg": "JPEG",
        ".jpeg": "JPEG",
        ".jpe": "JPEG",
        ".png": "PNG",
        ".webp": "WEBP",
        ".tif": "TIFF",
        ".tiff": "TIFF",
    }.get(s)


def progress(jobs: list[Job], quiet: bool) -> Iterator[Job]:
    if quiet or not sys.stderr.isatty() or len(jobs) < 2:
        yield from jobs
        return
    from tqdm import tqdm

    yield from tqdm(jobs, unit="photo", file=sys.stderr, dynamic_ncols=True)


def say(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def run_detect(args: argparse.Namespace, jobs: list[Job], detector: Detector) -> int:
    """`veil detect`: write the plan, render nothing."""
    from .media.image import decode_image

    plans = PlanSet()
    failed = 0
    for job in progress(jobs, args.quiet):
        try:
            if is_video(job.src):
                plans.files[job.key] = detect_video(
                    job.src, video_detector(args), parallel=args.threads
                )
                continue
            decoded = decode_image(job.src.read_bytes(), int(args.max_megapixels * 1e6))
            plans.files[job.key] = detect_image(decoded.pixels, detector)
        except (VeilError, OSError) as exc:
            failed += 1
            say(f"veil: {job.src}: {exc}")
    text = json.dumps(plans.to_json(), indent=1) + "\n"
    if args.output:
        write_atomic(Path(args.output), text.encode())
    else:
        sys.stdout.write(text)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def frame_progress(args: argparse.Namespace, job: Job) -> Callable[[str, int, int], None] | None:
    """A per-pass frame bar (frames per second, time left) for one video, on a terminal."""
    if args.quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            for bar in bars.values():
                bar.close()
            bars[stage] = tqdm(
                total=total or None,
                unit="frame",
                desc=f"{job.key}: {stage}",
                file=sys.stderr,
                dynamic_ncols=True,
                leave=False,
            )
        bar = bars[stage]
        bar.update(done - bar.n)
        if total and done >= total:
            bar.close()

    return update


def is_video(path: Path) -> bool:
    """Videos are told by their extension; their content is then opened by FFmpeg."""
    return path.suffix.lower() in VIDEO_SUFFIXES


def video_detector(args: argparse.Namespace) -> Detector:
    # One inference thread per frame; --threads frames are detected at once (see detect_video).
    return load_video_detector(args.min_face, 1)


def encode_options(args: argparse.Namespace) -> EncodeOptions:
    return EncodeOptions(
        codec=args.codec, crf=args.crf, preset=args.preset, audio=args.audio, threads=args.threads
    )


def anonymize_photo(
    args: argparse.Namespace,
    job: Job,
    plan: ImagePlan | None,
    detector: Detector | None,
    auditor: Detector | None,
    mask: MaskStyleOptions,
) -> tuple[FileReport, ImagePlan]:
    """One photo through the engine, written atomically where the job says."""
    result = anonymize_file(
        job.src,
        lambda fmt: destination(job, fmt, args.format is not None),
        detector=detector,
        mask=mask,
        plan=plan,
        format=args.format,
        max_pixels=int(args.max_megapixels * 1e6),
        name=job.key,
        profile=args.profile,
        audit=not args.no_audit,
        auditor=auditor,
        strict=args.strict,
    )
    return result.report, result.plan


def run_anonymize(
    args: argparse.Namespace,
    jobs: list[Job],
    detector: Detector | None,
    auditor: Detector | None,
) -> int:
    mask = MaskStyleOptions(style=args.mask, shape=args.shape, margin=args.margin, color=args.rgb)
    given = PlanSet.load(args.plan_in) if args.plan_in else None
    report = RunReport(
        options={
            "mask": args.mask,
            "shape": args.shape,
            "margin": args.margin,
            "format": args.format,
            "plan_in": bool(given),
            "profile": None if given else args.profile,
            "audit": not (given or args.no_audit),
            "strict": args.strict,
        }
    )
    plans = PlanSet()
    for job in progress(jobs, args.quiet):
        file_report = FileReport(input=job.key)
        try:
            plan: ImagePlan | VideoPlan | None = None
            if given is not None:
                if job.key not in given.files:
                    raise VeilError("not in the plan given with --plan-in (nothing rendered)")
                plan = given.files[job.key]
            if is_video(job.src):
                if isinstance(plan, ImagePlan):
                    raise VeilError("the plan for this file is a photo plan, not a video plan")
                dst = destination(job, "MP4", False)
                plans.files[job.key], file_report = anonymize_video(
                    job.src,
                    dst,
                    progress=frame_progress(args, job),
                    detector=video_detector(args) if plan is None else None,
                    mask=mask,
                    plan=plan,
                    encode=encode_options(args),
                    name=job.key,
                    parallel=args.threads,
                )
            else:
                if isinstance(plan, VideoPlan):
                    raise VeilError("the plan for this file is a video plan, not a photo plan")
                file_report, plans.files[job.key] = anonymize_photo(
                    args, job, plan, detector, auditor, mask
                )
        except VeilError as exc:
            file_report.status, file_report.error = "error", str(exc)
            say(f"veil: {job.src}: {exc}")
        report.files.append(file_report)
    if args.plan_out:
        plans.dump(args.plan_out)
    if args.report:
        report.write(args.report)
    failed = sum(f.status != "ok" for f in report.files)
    if not args.quiet:
        ok = len(report.files) - failed
        faces = sum(len(f.faces) for f in report.files)
        say(
            f"veil: {ok} of {len(report.files)} files anonymized, {faces} faces covered"
            + (f", {failed} failed" if failed else "")
        )
    return EXIT_SOME_FAILED if failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `veil` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("serve", "keys"):
        try:
            from .server.main import keys_main, serve_main
        except ImportError:
            say("veil: the service needs the server extra: pip install 'veil[server]'")
            return EXIT_USAGE
        return (serve_main if argv[0] == "serve" else keys_main)(argv[1:])
    detect_mode = bool(argv) and argv[0] == "detect"
    if detect_mode:
        argv = argv[1:]
    args = parse_args(argv)
    try:
        if args.example:
            from .example import write_example

            folder = Path(args.output or "veil-example")
            args.inputs = [write_example(folder)]
            args.output = None
            args.report = args.report or folder / "report.json"
        missing = [str(p) for p in args.inputs if not p.exists()]
        for path in missing:
            say(f"veil: {path}: no such file or folder")
        inputs = [p for p in args.inputs if p.exists()]
        if not inputs:
            return EXIT_SOME_FAILED
        jobs = plan_jobs(inputs, args.output)
        if args.mask == "blur" and not detect_mode:
            say(BLUR_WARNING)
        detector = auditor = None
        if detect_mode or not args.plan_in:
            detector = load_detector(args.profile, args.threads)
            if not args.no_audit:
                auditor = load_auditor(args.profile, args.threads)
        if detect_mode:
            code = run_detect(args, jobs, detector)  # type: ignore[arg-type]
        else:
            code = run_anonymize(args, jobs, detector, auditor)
        if args.example and code == EXIT_OK:
            say(
                f"veil: example written to {args.inputs[0].parent}/ "
                "(example.jpg, example.veiled.jpg, report.json)"
            )
        return max(code, EXIT_SOME_FAILED) if missing else code
    except SetupError as exc:
        say(f"veil: {exc}")
        return EXIT_USAGE
    except VeilError as exc:
        say(f"veil: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        say("veil: interrupted; no partial output was left behind")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
