"""The `veil` command: anonymize photos, videos and folders, write or apply mask plans.

It translates arguments into an Options object and calls the public engine (`veil`); the
flags for what a user can choose are made from the options table (veil.options).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import (
    FileReport,
    ImagePlan,
    Models,
    Options,
    PlanSet,
    RunReport,
    VeilError,
    VideoPlan,
    __version__,
    anonymize_file,
    anonymize_video,
    detect_video,
    formats,
    load_models,
    load_video_models,
    plan_image,
    read_input,
)
from .options import OptionSpec, specs

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


def add_option(parser: argparse.ArgumentParser, spec: OptionSpec) -> None:
    """One entry of the options table as a flag: bools switch, the rest take a value."""
    if spec.type is bool:
        if spec.default:
            parser.add_argument(
                f"--no-{spec.name.replace('_', '-')}", dest=spec.name, action="store_false",
                help=f"skip {spec.help}",
            )
        else:
            parser.add_argument(spec.flag, dest=spec.name, action="store_true", help=spec.help)
        return
    shown = spec.shown or spec.default
    if isinstance(shown, float):
        shown = f"{shown:g}"
    # Values stay text here: Options converts and checks them, with the same messages the
    # service gives.
    choices = [str(c) for c in spec.choices or () if c is not None]
    parser.add_argument(
        spec.flag,
        dest=spec.name,
        metavar="{" + ",".join(choices) + "}" if choices else None,
        default=spec.default if spec.shown is None else spec.shown,
        help=spec.help + ("" if shown is None else f" (default {shown})"),
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="veil",
        description="Cover every face in photos and videos irreversibly and remove identifying "
        "metadata. 'veil detect INPUT...' writes the mask plan instead, for a person to review.",
    )
    p.add_argument("inputs", nargs="*", type=Path, help="photos, videos or folders (walked)")
    p.add_argument("-o", "--output", help="output file, or folder (existing, or ending in /)")
    for spec in specs():
        add_option(p, spec)
    p.add_argument("--plan-out", type=Path, help="also write the mask plan (JSON) here")
    p.add_argument("--plan-in", type=Path, help="render this (reviewed) plan; detect nothing")
    p.add_argument("--report", type=Path, help="write a JSON report of the run here")
    p.add_argument("--threads", type=int, default=0, help="inference threads (0: all cores)")
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
    try:
        args.options = Options.from_flat({spec.name: getattr(args, spec.name) for spec in specs()})
    except VeilError as exc:
        p.error(str(exc))
    return args


def walk(root: Path) -> Iterator[Path]:
    """Photos and videos under a folder, sorted, skipping hidden files and veil's outputs."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or SUFFIX + "." in name:
                continue
            if path.suffix.lower() in formats.PHOTO_SUFFIXES | formats.VIDEO_SUFFIXES:
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
    """Where a job's output goes, with the suffix of the format actually written."""
    if job.out_file is not None:
        return job.out_file
    assert job.out_dir is not None
    rel = Path(job.key)
    written = formats.by_name(fmt)
    suffix = rel.suffix
    # Keep the input's own suffix (.jpeg stays .jpeg) only when it names what was written.
    if requested or written.kind == "video" or formats.by_suffix(suffix) != written:
        suffix = written.suffix
    name = rel.stem + (SUFFIX if job.out_dir == job.src.parent else "") + suffix
    return job.out_dir / rel.parent / name


def progress(jobs: list[Job], quiet: bool) -> Iterator[Job]:
    if quiet or not sys.stderr.isatty() or len(jobs) < 2:
        yield from jobs
        return
    from tqdm import tqdm

    yield from tqdm(jobs, unit="photo", file=sys.stderr, dynamic_ncols=True)


def say(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def run_detect(args: argparse.Namespace, jobs: list[Job], models: Models) -> int:
    """`veil detect`: write the plan, render nothing."""
    options: Options = args.options
    plans = PlanSet()
    failed = 0
    for job in progress(jobs, args.quiet):
        try:
            if is_video(job.src):
                detector = load_video_models(options.detect.min_face).detector
                plans.files[job.key] = detect_video(job.src, detector, parallel=args.threads)
            else:
                plans.files[job.key] = plan_image(read_input(job.src), options, models)
        except VeilError as exc:
            failed += 1
            say(f"veil: {job.src}: {exc}")
    if args.output:
        plans.dump(Path(args.output))
    else:
        sys.stdout.write(json.dumps(plans.to_json(), indent=1) + "\n")
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
    """A video by its bytes (the format table), or by its suffix when the bytes match no
    format (the engine then refuses it with the right reason)."""
    try:
        with open(path, "rb") as fh:
            sniffed = formats.sniff(fh.read(formats.HEAD_BYTES))
    except OSError:
        sniffed = None
    if sniffed is not None:
        return sniffed.kind == "video"
    return path.suffix.lower() in formats.VIDEO_SUFFIXES


def anonymize_one(
    args: argparse.Namespace, job: Job, plan: ImagePlan | VideoPlan | None, models: Models | None
) -> tuple[FileReport, ImagePlan | VideoPlan]:
    """One file through the engine, written atomically where the job says."""
    options: Options = args.options
    if is_video(job.src):
        if isinstance(plan, ImagePlan):
            raise VeilError("the plan for this file is a photo plan, not a video plan")
        video_plan, report = anonymize_video(
            job.src,
            destination(job, "MP4", False),
            options,
            plan=plan,
            progress=frame_progress(args, job),
            name=job.key,
            threads=args.threads,
        )
        return report, video_plan
    if isinstance(plan, VideoPlan):
        raise VeilError("the plan for this file is a video plan, not a photo plan")
    result = anonymize_file(
        job.src,
        lambda fmt: destination(job, fmt, options.encode.format is not None),
        options,
        plan=plan,
        models=models,
        name=job.key,
    )
    return result.report, result.plan


def run_anonymize(args: argparse.Namespace, jobs: list[Job], models: Models | None) -> int:
    """Anonymize every job; a file that fails is reported and the rest go on."""
    given = PlanSet.load(args.plan_in) if args.plan_in else None
    options: Options = args.options
    report = RunReport(
        options={
            **options.to_flat(),
            "plan_in": bool(given),
            "profile": None if given else options.detect.profile,
            "audit": options.detect.audit and not given,
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
            file_report, plans.files[job.key] = anonymize_one(args, job, plan, models)
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


def run(args: argparse.Namespace, detect_mode: bool) -> int:
    """Map inputs to outputs, load the models once, and run every file."""
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
    options: Options = args.options
    if options.mask.style == "blur" and not detect_mode:
        say(BLUR_WARNING)
    models = None
    if detect_mode or not args.plan_in:
        models = load_models(options.detect.profile, args.threads)
    if detect_mode:
        assert models is not None
        code = run_detect(args, jobs, models)
    else:
        code = run_anonymize(args, jobs, models)
    if args.example and code == EXIT_OK:
        say(
            f"veil: example written to {args.inputs[0].parent}/ "
            "(example.jpg, example.veiled.jpg, report.json)"
        )
    return max(code, EXIT_SOME_FAILED) if missing else code


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
    args = parse_args(argv[1:] if detect_mode else argv)
    try:
        return run(args, detect_mode)
    except VeilError as exc:  # SetupError included: veil itself or the request is unusable
        say(f"veil: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        say("veil: interrupted; no partial output was left behind")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
