"""`veil [anonymize]` and `veil detect`: plan the batch, run every file through the public
engine, say what happened.

A file that fails is reported and the rest go on; the summary names what was written where,
and what was skipped, refused or failed.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import (
    Batch,
    BatchJob,
    FileReport,
    Options,
    PlanSet,
    RunReport,
    VideoPlan,
    plan_video,
)
from ..jobs import Plan, anonymize_one, outcome
from .apart import in_own_process
from .pool import photo_pool
from .terminal import counter, say, shown

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
BLUR_WARNING = (
    "warning: --mask blur can be partly reversed by learned models; "
    "use solid or mosaic for anything published"
)


def run_detect(args: argparse.Namespace, jobs: list[BatchJob]) -> int:
    """`veil detect`: write the plan, render nothing. Photos on the pool, videos each in a
    process of its own, as `veil` runs them."""
    options: Options = args.options
    photos = [i for i, j in enumerate(jobs) if j.kind == "image"]
    results: dict[int, tuple[FileReport, Plan | None]] = {}
    progress = counter(len(jobs), args.quiet)
    with photo_pool(options, args.threads, args.jobs, len(photos), len(jobs), need_models=True,
                    plan_only=True) as pool:
        for index, done in pool.run([jobs[i] for i in photos], photos, None):
            results[index] = done
            _said(jobs[index], done[0], quiet=True)
            progress.update(1)
    for index, job in enumerate(jobs):
        if job.kind == "video":
            results[index] = outcome(job, None, functools.partial(_video_plan, job, options,
                                                                  args.threads))
            _said(job, results[index][0], quiet=True)
            progress.update(1)
    progress.close()
    plans = PlanSet()
    for index, job in enumerate(jobs):  # in the batch's order, whatever order they ended in
        if (made := results[index][1]) is not None:
            plans.add(job.key, made, job.src)
    return _write_plans(args, plans, len(jobs))


def _write_plans(args: argparse.Namespace, plans: PlanSet, files: int) -> int:
    failed = files - len(plans.files)
    if args.output:
        if not write_side_file("-o", args.output, plans.dump):
            return EXIT_SOME_FAILED
        if not args.quiet:
            say(f"veil: plan for {len(plans.files)} of {files} files written to "
                f"{shown(args.output)}" + (f"; {failed} failed" if failed else ""))
    else:
        sys.stdout.write(json.dumps(plans.to_json(), indent=1) + "\n")
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _video_plan(job: BatchJob, options: Options, threads: int,
                plan: Plan | None) -> tuple[FileReport, Plan]:
    planned: VideoPlan = in_own_process(functools.partial(plan_video, threads=threads), job.src,
                                        options)
    return FileReport(input=job.key), planned


def frame_progress(name: str) -> Callable[[str, int, int], None]:
    """A per-pass frame bar (frames per second, time left) for one video."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            for old in bars.values():
                old.close()
            bars[stage] = tqdm(total=total or None, unit="frame", desc=f"{name}: {stage}",
                               file=sys.stderr, dynamic_ncols=True, leave=False)
        current = bars[stage]
        current.update(done - current.n)
        if total and done >= total:
            current.close()

    return update


def _run_on_ray(args: argparse.Namespace, batch: Batch, given: PlanSet | None,
                report: RunReport) -> dict[int, tuple[FileReport, Plan | None]]:
    """Every job's outcome by its index, photos and videos alike on Ray actors."""
    from ..scale import RayPool, ray_runtime

    results: dict[int, tuple[FileReport, Plan | None]] = {}
    photos = any(job.kind == "image" for job in batch.jobs)
    with ray_runtime(args.ray or None) as cluster:
        pool = RayPool(args.options, threads=args.threads or 1,
                       need_models=photos and not given, workers=args.jobs)
        progress = counter(len(batch.jobs), args.quiet)
        for index, done in pool.run(batch.jobs, list(range(len(batch.jobs))), given):
            results[index] = done
            _said(batch.jobs[index], done[0], args.quiet)
            progress.update(1)
        progress.close()
        report.ray = {**cluster, "split": pool.split_videos(batch.jobs),
                      "retried": pool.public_retries()}
    return results


def _run_jobs(args: argparse.Namespace, batch: Batch,
              given: PlanSet | None) -> dict[int, tuple[FileReport, Plan | None]]:
    """Every job's outcome by its index: photos on the pool, then videos one by one."""
    options: Options = args.options
    results: dict[int, tuple[FileReport, Plan | None]] = {}
    photos = [i for i, j in enumerate(batch.jobs) if j.kind == "image"]
    progress = counter(len(batch.jobs), args.quiet)
    with photo_pool(options, args.threads, args.jobs, len(photos), len(batch.jobs),
                    need_models=not given) as pool:
        for index, done in pool.run([batch.jobs[i] for i in photos], photos, given):
            results[index] = done
            _said(batch.jobs[index], done[0], args.quiet)
            progress.update(1)
    for index, job in enumerate(batch.jobs):
        if job.kind == "video":
            video = functools.partial(_one_video, job, options, args)
            results[index] = outcome(job, given, video)
            _said(job, results[index][0], args.quiet)
            progress.update(1)
    progress.close()
    return results


def _one_video(job: BatchJob, options: Options, args: argparse.Namespace,
               plan: Plan | None) -> tuple[FileReport, Plan]:
    """One video in a process of its own (a decoder crash fails it alone)."""
    if job.refused:  # refused before any work: no process needed to say so
        return anonymize_one(job, options, plan, None)
    bars = not args.quiet and sys.stderr.isatty()
    return in_own_process(_video, job, options, plan, args.threads, bars,
                          writes_to=job.dst.parent)


def _video(job: BatchJob, options: Options, plan: Plan | None, threads: int,
           bars: bool) -> tuple[FileReport, Plan]:
    return anonymize_one(job, options, plan, None, threads,
                         frame_progress(job.key) if bars else None)


def run_anonymize(args: argparse.Namespace, batch: Batch) -> int:
    """Anonymize every job (photos on a pool of processes, videos one by one)."""
    given = PlanSet.load(args.plan_in) if args.plan_in else None
    options: Options = args.options
    flat = {**options.to_flat(), "plan_in": bool(given)}
    if given:
        flat.update(profile=None, audit=False)
    report = RunReport(options=flat, output=batch.destination)
    report.skipped = [{"input": str(p), "reason": r} for p, r in batch.skipped]
    if args.ray is not None:
        results = _run_on_ray(args, batch, given, report)
    else:
        results = _run_jobs(args, batch, given)
    plans = PlanSet()
    for index in range(len(batch.jobs)):
        file_report, made = results[index]
        report.files.append(file_report)
        if made is not None and args.plan_out:
            plans.add(batch.jobs[index].key, made, batch.jobs[index].src)
    sides = [("--plan-out", args.plan_out, plans.dump), ("--report", args.report, report.write)]
    written = all([write_side_file(flag, path, write) for flag, path, write in sides if path])
    if not args.quiet:
        say(summary_line(report))
    ok = written and all(f.status == "ok" for f in report.files)
    return EXIT_OK if ok else EXIT_SOME_FAILED


def write_side_file(flag: str, path: Path, write: Callable[[Path], None]) -> bool:
    """Write a report or plan; a failure (a full disk, a folder it may not write to) is one
    line and a failed run, not a traceback after the outputs were written."""
    try:
        write(path)
    except OSError as exc:
        say(f"veil: {flag} {shown(path)}: cannot be written: {exc.strerror or exc}")
        return False
    return True


def _said(job: BatchJob, report: FileReport, quiet: bool) -> None:
    """A file's line, if it has one: why it was not written, or (unless quiet) that its
    photo came out mostly masked."""
    if report.status != "ok":
        say(f"veil: {shown(job.src)}: {report.status}: {report.error}")
    elif not quiet and (heavy := report.mostly_masked()):
        say(f"veil: {shown(job.src)}: {heavy}")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary_line(report: RunReport) -> str:
    """One line: files written and where, faces found, regions masked or kept; what was not
    written, and why in a word."""
    s = report.summary()
    where = f" to {s['output']}" if s["output"] and s["written"] else ""
    line = f"veil: {s['written']} of {_count(s['files'], 'file')} written{where}"
    if s["written"]:
        found = [_count(s["faces"], "face")] + [
            _count(s[kind], name) for kind, name in (("plates", "plate"), ("text", "text line"))
            if s[kind]]
        line += f": {', '.join(found)} found, {_count(s['masked'], 'region')} masked"
        if s["masked"] > s["faces"] + s["plates"] + s["text"]:
            line += " (fainter detections included)"
        if s["kept_visible"]:
            line += f", {s['kept_visible']} kept visible by the plan"
    rest = [f"{s[word]} {word}" for word in ("skipped", "refused", "failed") if s[word]]
    return line + ("; " + ", ".join(rest) if rest else "")
