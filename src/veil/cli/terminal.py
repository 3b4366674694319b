"""What the commands print: one line per message on stderr, and progress bars only on a
terminal (they would be noise in a log)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def shown(path: Path | str) -> str:
    """A path as one printable line (a file name may hold a newline)."""
    return "".join(c if c.isprintable() else "?" for c in str(path))


def say(message: str) -> None:
    """One line on stderr, above any progress bar."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def _wanted(quiet: bool, total: int) -> bool:
    return not quiet and sys.stderr.isatty() and total >= 2


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def counter(total: int, quiet: bool) -> Any:
    """One progress bar for a batch whose files finish in any order (update, close)."""
    if not _wanted(quiet, total):
        return _Silent()
    from tqdm import tqdm

    return tqdm(total=total, unit="file", file=sys.stderr, dynamic_ncols=True)


def lines(rows: Iterable[str]) -> None:
    for row in rows:
        sys.stdout.write(row + "\n")
