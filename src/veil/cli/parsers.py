"""The commands' parsers: flags for what a user can choose come from the options table
(veil.options), each command has its own help with defaults shown, and a usage mistake is
one line (veil.options.CommandParser)."""

from __future__ import annotations

import argparse
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

from .. import Options, VeilError, __version__
from ..formats import accepted, writable
from ..options import CommandParser, specs

COMMANDS = {
    "anonymize": "cover faces, remove metadata, write a copy of each file (the default)",
    "detect": "write the mask plan (JSON) for a person to review; cover nothing",
    "inspect": "list the metadata a file carries and what veil would remove",
    "serve": "run the HTTP service and its review page (needs the server extra)",
    "keys": "add, remove or list the service's API keys",
}
USAGE = """veil [anonymize] INPUT... [options]
       veil detect INPUT... [-o PLAN.json] [options]
       veil inspect FILE...
       veil serve [options]
       veil keys {add,remove,list} [NAME]"""
ABOUT = """\
Cover every face in photos and videos irreversibly and remove the metadata that identifies
a person, a device or a place. veil finds where faces are; it never recognises anyone.

Where outputs go: photo.jpg -> photo.veiled.jpg beside it; a folder DIR -> DIR.veiled/
beside it (the same tree). -o names a file (its suffix picks the format: -o clean.png) or a
folder (one that exists, or a name ending in /). An input is never replaced, and an output
that exists is refused unless --overwrite.

""" + textwrap.fill(
    f"Reads {accepted()}. Writes photos as "
    f"{', '.join(f.name for f in writable('image'))} (the input's format unless --format or "
    "-o asks; HEIF and AVIF become JPEG), videos as MP4 (or "
    f"{', '.join(f.name for f in writable('video') if f.name != 'MP4')}, by -o's suffix).",
    92,
) + """

commands:
""" + "\n".join(f"  {name:<10} {text}" for name, text in COMMANDS.items()) + """

'veil COMMAND --help' shows each command's options."""
GROUP_TITLES = {
    "mask": "how faces are covered",
    "detect": "detection",
    "encode": "output",
    "limits": "limits (refused before decoding)",
}


def file_name(text: str) -> Path:
    """A report or plan file to write: a name that ends in / names a folder, and would
    otherwise be written as a file of that name."""
    if text.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(f"{text} names a folder; name a file (report.json, "
                                         "plan.json)")
    return Path(text)


def _add_options(p: argparse.ArgumentParser, groups: Sequence[str]) -> None:
    for group in groups:
        section = p.add_argument_group(GROUP_TITLES[group])
        for spec in specs(group=group):
            spec.add_to(section)


def _add_walk_flags(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--follow-symlinks", action="store_true",
                   help="walk into linked folders and take linked files outside the input folder")
    p.add_argument("--threads", type=int, default=0,
                   help="inference threads per process (default 0: onnxruntime's choice)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar and no summary (errors are still printed)")


def anonymize_parser() -> CommandParser:
    p = CommandParser(prog="veil", usage=USAGE, description=ABOUT)
    # `veil anonymize --help` and `veil --help` are the same page.
    p.add_argument("inputs", nargs="*", type=Path, metavar="INPUT",
                   help="photos, videos or folders (walked recursively)")
    p.add_argument("-o", "--output", help="output file or folder (default: beside the input)")
    _add_options(p, ("mask", "detect", "encode", "limits"))
    run = p.add_argument_group("run")
    run.add_argument("--overwrite", action="store_true",
                     help="replace outputs that exist already (never an input)")
    run.add_argument("--report", type=file_name, help="write a JSON report of the run here")
    run.add_argument("--plan-out", type=file_name,
                     help="also write the mask plan (JSON) here")
    run.add_argument("--plan-in", type=Path, help="render this (reviewed) plan; detect nothing")
    run.add_argument("--jobs", type=int, default=0,
                     help="photos processed at once in a folder, one process each "
                     "(default 0: one per core, at most 8; with --ray: one per CPU of the "
                     "cluster)")
    run.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                     help="run the files on a Ray cluster (needs veil[ray]): at ADDRESS, or "
                     "RAY_ADDRESS, or a Ray runtime started here; put it after the inputs")
    _add_walk_flags(run)
    run.add_argument("--example", action="store_true",
                     help="anonymize the bundled example photo (into -o, default veil-example/)")
    p.add_argument("--version", action="version", version=f"veil {__version__}")
    return p


def detect_parser() -> CommandParser:
    p = CommandParser(
        prog="veil detect",
        usage="veil detect INPUT... [-o PLAN.json] [options]",
        description="Find the faces in photos and videos and write the mask plan (JSON): the "
        "regions and\ntracks to cover, for a person to review and edit. Nothing is covered or "
        "written but the\nplan; render it with 'veil INPUT... --plan-in PLAN.json'.",
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="photos, videos or folders (walked recursively)")
    p.add_argument("-o", "--output", type=file_name,
                   help="write the plan here (default: print it)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a file at -o that is not a plan veil wrote (never an input)")
    p.add_argument("--jobs", type=int, default=0,
                   help="photos looked at at once in a folder, one process each (default 0: "
                   "one per core, at most 8)")
    _add_options(p, ("detect", "limits"))
    _add_walk_flags(p)
    return p


def inspect_parser() -> CommandParser:
    p = CommandParser(
        prog="veil inspect",
        usage="veil inspect FILE... [--json]",
        description="Show the metadata each file carries (names and values) and what veil "
        "would remove, as\nmat2 --show does. Nothing is written. The values are read from "
        "your own file on your own\nmachine; the service never offers this.",
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="FILE", help="photos or videos")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_options(p, ("limits",))
    return p


def parse(parser: CommandParser, argv: Sequence[str]) -> argparse.Namespace:
    """Parse `argv`; the options table's values become an Options object (`args.options`)."""
    args = parser.parse_args(argv)
    if getattr(args, "ray", None) and Path(args.ray).exists():
        parser.error(f"--ray {args.ray}: that is a file or folder, not a cluster address; put "
                     "--ray after the inputs, or write --ray=ADDRESS")
    if not args.inputs and not getattr(args, "example", False):
        parser.error("give at least one photo, video or folder (or --example)")
    values = {s.name: getattr(args, s.name) for s in specs() if hasattr(args, s.name)}
    try:
        args.options = Options.from_flat(values)
    except VeilError as exc:
        message = str(exc)
        for spec in specs():  # the table names the option; here it is the flag a user typed
            if message.startswith(spec.name + " ") or message.startswith(spec.name + ":"):
                message = spec.flag + message[len(spec.name):]
                break
        parser.error(message)
    return args
