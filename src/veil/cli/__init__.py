"""The `veil` command: anonymize photos, videos and folders, write or apply mask plans,
show a file's metadata, run the service.

It translates arguments into an Options object and calls the public engine (`veil`); the
flags for what a user can choose are made from the options table (veil.options).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from .. import Batch, VeilError, check_encoder, check_side_file, plan_batch
from .parsers import COMMANDS, anonymize_parser, detect_parser, inspect_parser, parse
from .run import BLUR_WARNING, EXIT_SOME_FAILED, EXIT_USAGE, run_anonymize, run_detect
from .terminal import say, shown

__all__ = ["main"]


def _batch_run(args: argparse.Namespace, detect_mode: bool) -> int:
    """Map inputs to outputs, then run every file."""
    if getattr(args, "example", False):
        from ..example import write_example

        folder = Path(args.output or "veil-example")
        args.inputs, args.output = [write_example(folder)], None
        args.report = args.report or folder / "report.json"
        args.overwrite = True
    missing = [p for p in args.inputs if not p.exists()]
    for gone in missing:
        say(f"veil: {shown(gone)}: no such file or folder")
    inputs = [p for p in args.inputs if p.exists()]
    if not inputs:
        return EXIT_SOME_FAILED
    # detect's -o is the plan file, not where outputs would go
    batch = plan_batch(inputs, None if detect_mode else args.output, args.options.encode.format,
                       overwrite=getattr(args, "overwrite", False),
                       follow_symlinks=args.follow_symlinks)
    for skipped, reason in batch.skipped:
        say(f"veil: {shown(skipped)}: skipped: {reason}")
    if not batch.jobs:
        found = f" ({len(batch.skipped)} skipped)" if batch.skipped else ""
        say(f"veil: nothing to do: no photo or video veil reads in "
            f"{', '.join(shown(p) for p in inputs)}{found}")
        return EXIT_SOME_FAILED
    _check_side_files(args, batch, detect_mode)
    if detect_mode:
        code = run_detect(args, batch.jobs)
    else:
        if any(job.kind == "video" for job in batch.jobs):
            check_encoder(args.options.encode)  # a bad --codec: one line, before any work
        if args.options.mask.style == "blur":
            say(BLUR_WARNING)
        code = run_anonymize(args, batch)
    if getattr(args, "example", False) and code == 0:
        say(f"veil: example written to {shown(args.inputs[0].parent)}/ "
            "(example.jpg, example.veiled.jpg, report.json)")
    return max(code, EXIT_SOME_FAILED) if missing else code


def _check_side_files(args: argparse.Namespace, batch: Batch, detect_mode: bool) -> None:
    """The report and plan files: refused before any work (an input, an output, a folder...)."""
    named = {"-o": args.output} if detect_mode else {
        "--report": args.report, "--plan-out": args.plan_out}
    given = {flag: Path(path) for flag, path in named.items() if path is not None}
    reads = [] if detect_mode or not args.plan_in else [args.plan_in]
    for flag, path in given.items():
        check_side_file(path, flag, batch, args.overwrite, reads, given)


def _service(command: str, argv: Sequence[str]) -> int:
    try:
        from ..server.main import keys_main, serve_main
    except ImportError:
        say("veil: the service needs the server extra: pip install 'veil[server]'")
        return EXIT_USAGE
    return (serve_main if command == "serve" else keys_main)(argv)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (`timeout`, `kill`, a closed terminal, a container stopping): stop
    as Ctrl-C does, removing temporary outputs on the way out, instead of dying with a
    half-written `.veil-*.part` left in the output folder."""


# The signal that stopped this run: Ray turns the Stopped our handler raises inside its
# waits into a KeyboardInterrupt of its own, which would otherwise read as Ctrl-C.
_received: list[str] = []


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[None]:
    def stop(signum: int, frame: object) -> None:
        _received.append(signal.Signals(signum).name)
        raise Stopped

    kept = {}
    names = ("SIGTERM", "SIGHUP") if threading.current_thread() is threading.main_thread() else ()
    for name in names:
        number = getattr(signal, name, None)
        # only where they would kill us: `nohup` ignores SIGHUP, and so do we then
        if number is not None and signal.getsignal(number) is signal.SIG_DFL:
            kept[number] = signal.signal(number, stop)
    try:
        yield
    finally:
        for number, handler in kept.items():
            signal.signal(number, handler)


def _dispatch(argv: list[str]) -> int:
    command = argv[0] if argv and argv[0] in COMMANDS else "anonymize"
    rest = argv[1:] if argv and argv[0] == command else argv
    if command in ("serve", "keys"):  # the service handles its own signals
        return _service(command, rest)
    with _stopped_by_signals():
        return _batch_command(command, rest)


def _batch_command(command: str, rest: list[str]) -> int:
    if command == "inspect":
        from .inspect import run_inspect

        return run_inspect(parse(inspect_parser(), rest))
    parser = detect_parser() if command == "detect" else anonymize_parser()
    return _batch_run(parse(parser, rest), detect_mode=command == "detect")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `veil` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(argv)
    except VeilError as exc:  # SetupError included: veil itself or the request is unusable
        say(f"veil: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        name = next(iter(_received), None)  # the first signal: Ctrl-C has none here
        if name is None:
            say("veil: interrupted; no partial output was left behind")
            return 130
        say(f"veil: stopped ({name}); no partial output was left behind")
        return 128 + signal.Signals[name].value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
