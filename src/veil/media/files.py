"""Writing outputs all or nothing: the one implementation of atomic writes.

Every output (photos, videos, plans, reports) is written to a temporary file beside its
destination, named `.veil-*.part`, and renamed over it only when complete; on any failure
the temporary file is removed and nothing is left at the destination. Inputs are read only
when they are regular files (`check_regular`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError, VeilError

TEMP_PREFIX, TEMP_SUFFIX = ".veil-", ".part"
NOT_REGULAR = "not a regular file (a pipe, socket or device); veil reads files"


def is_special(path: Path) -> bool:
    """A path that leads to a pipe, socket or device: opening a pipe waits for a writer and
    a device may never end, so reading one (a FIFO named x.jpg in a folder) stalls a run."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # gone or unreadable: the read that follows says why
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex), read in pieces: a video may be larger than memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_regular(path: Path) -> None:
    """InputError (one line) before reading an input that is not a regular file."""
    if is_special(path):
        raise InputError(NOT_REGULAR)


def part_path(folder: Path) -> Path:
    """A new name for a temporary file in `folder` (a piece of an output still being made)
    that remove_stale_parts removes should a killed run leave it."""
    return folder / f"{TEMP_PREFIX}{uuid.uuid4().hex}{TEMP_SUFFIX}"


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temporary path to write `path`'s content to; renamed to `path` when the block ends
    without an error, removed when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # mkstemp makes the file private; outputs get the permissions any new file would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` all or nothing (synced to disk before the rename)."""
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def refuse_overwrite(src: Path, dst: Path) -> None:
    """Raise VeilError when writing `dst` would replace the input `src`."""
    if Path(dst).resolve() == Path(src).resolve():
        raise VeilError("output would overwrite the input; choose another -o")
