"""`veil inspect FILE...`: the metadata each file carries and what veil would write."""

from __future__ import annotations

import argparse
import json
import sys

from .. import Inspection, Options, VeilError, inspect_file
from .terminal import lines, say, shown


def describe(found: Inspection) -> list[str]:
    """A file's inspection as text lines: a heading, then one line per metadata entry."""
    kind = "photo" if found.kind == "image" else "video"
    head = f"{shown(found.input)}: {found.format} {kind}, {found.width}x{found.height}"
    if not found.metadata:
        head += f"; no metadata found; veil writes it as {found.written_as}"
    else:
        count = len(found.metadata)
        head += (f"; veil writes it as {found.written_as} without its metadata "
                 f"({count} {'entry' if count == 1 else 'entries'}):")
    rows = [head] + [f"  {shown(name)}: {value}" for name, value in found.metadata]
    rows += [f"  (and: {change})" for change in found.changes]
    return rows


def run_inspect(args: argparse.Namespace) -> int:
    options: Options = args.options
    failed, found = 0, []
    for path in args.inputs:
        try:
            found.append(inspect_file(path, options))
        except VeilError as exc:
            failed += 1
            say(f"veil: {shown(path)}: {exc}")
    if args.json:
        sys.stdout.write(json.dumps([f.to_json() for f in found], indent=1) + "\n")
    else:
        for item in found:
            lines(describe(item))
    return 1 if failed else 0
