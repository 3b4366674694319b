"""The `veil` command: anonymize photos, videos and folders, write or apply mask plans.

It translates arguments into an Options object and calls the public engine (`veil`); the
flags for what a user can choose are made from the options table (veil.options).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import (
    BatchJob,
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
    load_models,
    load_video_models,
    plan_batch,
    plan_image,
    read_input,
)
from .options import specs

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
BLUR_WARNING = (
    "warning: --mask blur can be partly reversed by learned models; "
    "use solid or mosaic for anything published"
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
        spec.add_to(p)
    p.add_argument("--plan-out", type=Path, help="also write the mask plan (JSON) here")
    p.add_argument("--plan-in", type=Path, help="render this (reviewed) plan; detect nothing")
    p.add_argument("--report", type=Path, help="write a JSON report of the run here")
    p.add_argument(
        "--overwrite", action="store_true", help="replace outputs that exist already (never inputs)"
    )
    p.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="walk into linked folders and take linked files outside the input folder",
    )
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


def progress(jobs: list[BatchJob], quiet: bool) -> Iterator[BatchJob]:
    if quiet or not sys.stderr.isatty() or len(jobs) < 2:
        yield from jobs
        return
    from tqdm import tqdm

    yield from tqdm(jobs, unit="photo", file=sys.stderr, dynamic_ncols=True)


def shown(path: Path) -> str:
    """A path as one printable line (a file name may hold a newline)."""
    return "".join(c if c.isprintable() else "?" for c in str(path))


def say(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def run_detect(args: argparse.Namespace, jobs: list[BatchJob], models: Models) -> int:
    """`veil detect`: write the plan, render nothing."""
    options: Options = args.options
    plans = PlanSet()
    failed = 0
    for job in progress(jobs, args.quiet):
        try:
            if job.kind == "video":  # detect writes no output: a refused output does not matter
                detector = load_video_models(options.detect.min_face).detector
                plans.files[job.key] = detect_video(
                    job.src, detector, parallel=args.threads, limits=options.limits
                )
            else:
                plans.files[job.key] = plan_image(read_input(job.src), options, models)
        except VeilError as exc:
            failed += 1
            say(f"veil: {shown(job.src)}: {exc}")
    if args.output:
        plans.dump(Path(args.output))
    else:
        sys.stdout.write(json.dumps(plans.to_json(), indent=1) + "\n")
    return EXIT_SOME_FAILED if failed else EXIT_OK


def frame_progress(
    args: argparse.Namespace, job: BatchJob
) -> Callable[[str, int, int], None] | None:
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


def anonymize_one(
    args: argparse.Namespace,
    job: BatchJob,
    plan: ImagePlan | VideoPlan | None,
    models: Models | None,
) -> tuple[FileReport, ImagePlan | VideoPlan]:
    """One file through the engine, written atomically where the job says."""
    options: Options = args.options
    if job.refused:
        raise VeilError(job.refused)
    if job.kind == "video":
        if isinstance(plan, ImagePlan):
            raise VeilError("the plan for this file is a photo plan, not a video plan")
        video_plan, report = anonymize_video(
            job.src,
            job.dst,
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
        job.dst,
        options,
        plan=plan,
        models=models,
        name=job.key,
    )
    return result.report, result.plan


def run_anonymize(args: argparse.Namespace, jobs: list[BatchJob], models: Models | None) -> int:
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
            file_report.warnings.extend(job.notes)
        except VeilError as exc:
            file_report.status, file_report.error = "error", str(exc)
            say(f"veil: {shown(job.src)}: {exc}")
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
    missing = [p for p in args.inputs if not p.exists()]
    for gone in missing:
        say(f"veil: {shown(gone)}: no such file or folder")
    inputs = [p for p in args.inputs if p.exists()]
    if not inputs:
        return EXIT_SOME_FAILED
    options: Options = args.options
    batch = plan_batch(
        inputs,
        args.output,
        options.encode.format,
        overwrite=args.overwrite or args.example,
        follow_symlinks=args.follow_symlinks,
    )
    if not args.quiet:
        for skipped, reason in batch.skipped:
            say(f"veil: {shown(skipped)}: skipped: {reason}")
    jobs = batch.jobs
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
