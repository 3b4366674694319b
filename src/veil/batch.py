"""A batch: which files a request names, and where each one's output goes, decided before
anything is written, so that no two outputs collide and no input is ever overwritten.

Front ends that take files and folders (the CLI; later the Ray front end) plan a batch here
and hand each job to the engine. Rules:
- folders are walked sorted; hidden files, veil's own outputs (`*.veiled.*`, `.veil-*.part`)
  and the output folder itself (when it lies inside an input folder) are not inputs;
- a file whose bytes match no row of the format table is skipped with a reason, as is a
  symbolic link that leads out of its input folder (unless links are to be followed) and
  a pipe, socket or device (reading one can wait for ever);
- each output's suffix is that of the format it will be written as (the table says which);
- two jobs that would write one path: the one whose format is kept (else the first) keeps the
  name, the other gets a numbered one (`a-2.jpg`) and a note; names depend on the batch
  alone, not on what the output folder holds, so a rerun maps every input to the same output;
  names that differ only in case or Unicode normalization are one name (they are one file
  on macOS and Windows);
- an output that would replace any input of the batch is refused; an existing file is
  replaced only when the caller asks (`overwrite`), otherwise that job is refused;
- `.veil-*.part` files a killed run left in the output folders are removed;
- a file the run writes beside its outputs (a report, a plan) is checked before any work
  (`check_side_file`): never an input or an output of the batch, never a folder, and an
  existing file only when veil wrote it (a report or plan of an earlier run) or the caller
  asks (`overwrite`).
"""

from __future__ import annotations

import json
import os
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import formats
from .errors import VeilError
from .media.files import NOT_REGULAR, TEMP_PREFIX, TEMP_SUFFIX, is_special
from .media.image import has_frames

SUFFIX = ".veiled"
# A temporary file untouched this long belongs to no running veil (a video being encoded
# writes to its file all the time): it is what a killed run left behind.
STALE_AFTER_S = 600.0


@dataclass
class BatchJob:
    """One input file, its key in plans and reports, and where its output goes."""

    src: Path
    key: str  # path relative to the input root (a file's own name when given directly)
    dst: Path
    kind: str  # image | video, from the file's bytes (or its suffix when they match nothing)
    refused: str | None = None  # why this file gets no output (the batch goes on)
    notes: list[str] = field(default_factory=list)  # what the report should say about it
    # The --format choice its output must be written as, when its name decides (-o x.png);
    # None: the engine's rule (the input's format, or --format).
    format: str | None = None
    replace: bool = False  # an existing file at dst may be replaced (--overwrite)


@dataclass
class Batch:
    jobs: list[BatchJob]
    skipped: list[tuple[Path, str]]  # files found but not taken, and why
    stale_removed: int = 0
    destination: str | None = None  # where the outputs go, in words a person can follow


def plan_batch(
    inputs: Sequence[Path],
    output: str | None,
    requested_format: str | None = None,
    overwrite: bool = False,
    follow_symlinks: bool = False,
) -> Batch:
    """Every job of a request, each with its own output; VeilError when the request itself
    cannot be satisfied (several inputs into one output file)."""
    out_is_dir = output is not None and (output.endswith(("/", os.sep)) or Path(output).is_dir())
    if output is not None and not out_is_dir and (len(inputs) > 1 or inputs[0].is_dir()):
        if len(inputs) > 1 or Path(output).exists():
            raise VeilError("-o must be a folder when there are several inputs or a folder input")
        out_is_dir = True  # `veil DIR -o NEW` creates the folder NEW
    batch = Batch([], [])
    for item in inputs:
        batch.jobs.extend(_jobs_of(item, output, out_is_dir, requested_format, follow_symlinks,
                                   batch.skipped))
    keys = [j.key for j in batch.jobs]
    if len(set(keys)) != len(keys):
        raise VeilError("two inputs share a name; run them separately or pass their folder")
    _settle(batch.jobs, overwrite)
    batch.destination = _destination(inputs, output, batch.jobs)
    batch.stale_removed = remove_stale_parts({j.dst.parent for j in batch.jobs})
    return batch


def _destination(inputs: Sequence[Path], output: str | None, jobs: list[BatchJob]) -> str:
    if output is not None:
        return output
    if len(inputs) == 1 and inputs[0].is_dir():
        return f"{inputs[0].with_name(inputs[0].name + SUFFIX)}{os.sep}"
    if len(jobs) == 1:
        return str(jobs[0].dst)
    return f"beside the inputs (NAME{SUFFIX}.EXT)"


def _jobs_of(
    item: Path,
    output: str | None,
    out_is_dir: bool,
    requested: str | None,
    follow: bool,
    skipped: list[tuple[Path, str]],
) -> Iterator[BatchJob]:
    if is_special(item):
        skipped.append((item, NOT_REGULAR))
        return
    if not item.is_dir():
        kind, written = _written_as(item, requested)
        if output is None or out_is_dir:
            folder = item.parent if output is None else Path(output)
            yield BatchJob(item, item.name, _named(item, folder, item.name, written), kind)
        else:
            yield BatchJob(item, item.name, Path(output), kind,
                           format=_named_format(Path(output), kind, requested))
        return
    base = Path(output) if output else item.with_name(item.name + SUFFIX)
    for path in walk(item, skip=base, follow_symlinks=follow, skipped=skipped):
        key = path.relative_to(item).as_posix()
        kind, written = _written_as(path, requested)
        yield BatchJob(path, key, _named(path, base, key, written), kind)


def walk(
    root: Path,
    skip: Path | None = None,
    follow_symlinks: bool = False,
    skipped: list[tuple[Path, str]] | None = None,
) -> Iterator[Path]:
    """Photos and videos under a folder, sorted; see the module's rules."""
    skipped = skipped if skipped is not None else []
    top = root.resolve()
    avoid = skip.resolve() if skip is not None else None
    walked = {_folder_id(root)}  # followed links can lead back up: each folder once
    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow_symlinks):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and (here / d).resolve() != avoid
        )
        if follow_symlinks:
            dirnames[:] = _unwalked(here, dirnames, walked, skipped)
        for name in sorted(filenames):
            path = here / name
            if name.startswith(".") or SUFFIX + "." in name:
                continue
            if not follow_symlinks and path.is_symlink() and not _inside(path.resolve(), top):
                skipped.append((path, "a link to a file outside the input folder (not followed)"))
                continue
            if is_special(path):
                skipped.append((path, NOT_REGULAR))
                continue
            if path.suffix.lower() in formats.PHOTO_SUFFIXES | formats.VIDEO_SUFFIXES:
                yield path
            else:
                skipped.append((path, "not a photo or video veil reads (by its name)"))


def _folder_id(folder: Path) -> tuple[int, int]:
    stat = folder.stat()
    return stat.st_dev, stat.st_ino


def _unwalked(here: Path, names: list[str], walked: set[tuple[int, int]],
              skipped: list[tuple[Path, str]]) -> list[str]:
    """The sub-folders of `here` not walked yet; a link to one that was (a loop back up, or a
    second way to the same folder) is skipped with a reason, so no file is read twice."""
    keep = []
    for name in names:
        try:
            folder = _folder_id(here / name)
        except OSError:
            continue
        if folder in walked:
            skipped.append((here / name, "a link to a folder already walked (not followed "
                                         "again)"))
        else:
            walked.add(folder)
            keep.append(name)
    return keep


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _written_as(path: Path, requested: str | None) -> tuple[str, formats.Format]:
    """The file's kind and the format its output will be written in (the table decides)."""
    try:
        with open(path, "rb") as fh:
            sniffed = formats.sniff(fh.read(formats.HEAD_BYTES))
    except OSError:
        sniffed = None
    if sniffed is None:  # unreadable or unknown: the engine will refuse it with the reason
        by_name = formats.by_suffix(path.suffix)
        kind = by_name.kind if by_name is not None else "image"
        return kind, formats.by_name("MP4" if kind == "video" else "PNG")
    if sniffed.kind == "video":
        return "video", formats.by_name(sniffed.written_as)
    if requested:
        return "image", formats.by_choice(requested)
    if sniffed.written_as != sniffed.name and has_frames(path, sniffed):
        return "image", sniffed  # an animated GIF stays GIF (one frame of it becomes PNG)
    return "image", formats.by_name(sniffed.written_as)


def _named_format(dst: Path, kind: str, requested: str | None) -> str | None:
    """The format an output file's name asks for (`-o clean.png`); VeilError when the name
    ends in no suffix veil writes for this kind of file, or disagrees with --format."""
    named = formats.by_suffix(dst.suffix)
    can = formats.writable(kind)
    if named not in can:
        noun = "photo" if kind == "image" else "video"
        suffixes = " ".join(f.suffix for f in can)
        raise VeilError(f"-o {dst.name}: a {noun} is written as one of {suffixes}; name the "
                        "output with one of those suffixes")
    assert named is not None
    if kind == "image" and requested and formats.by_choice(requested) != named:
        raise VeilError(f"-o {dst.name} names {named.name} but --format asks for "
                        f"{formats.by_choice(requested).name}; drop one or make them agree")
    return named.choice if kind == "image" else None


def _named(src: Path, folder: Path, key: str, written: formats.Format) -> Path:
    """`folder/key` with the suffix of the format written (the input's own suffix when it
    names that format: .jpeg stays .jpeg), and `.veiled` before it when that lands in the
    input's own folder."""
    rel = Path(key)
    suffix = rel.suffix if formats.by_suffix(rel.suffix) == written else written.suffix
    beside = (folder / rel.parent).resolve() == src.parent.resolve()
    return folder / rel.parent / (rel.stem + (SUFFIX if beside else "") + suffix)


def _settle(jobs: list[BatchJob], overwrite: bool) -> None:
    """Give every job its own output; refuse those that would replace an input or, unless
    `overwrite`, an existing file. Names depend on the batch alone, never on what the output
    folder holds, so a rerun maps each input to the same output (and refuses it, unless
    `overwrite`, instead of writing a copy under the next free number)."""
    inputs = {_place(j.src) for j in jobs}
    owners: dict[str, BatchJob] = {}
    for job in sorted(jobs, key=_converted):  # a file whose format is kept keeps its name
        owners.setdefault(_place(job.dst), job)
    taken = set(owners) | inputs
    for job in jobs:
        job.replace = overwrite
        owner = owners[_place(job.dst)]
        if owner is not job:
            job.dst = _free_name(job.dst, taken)
            job.notes.append(f"written as {job.dst.name}: {owner.key} is written as "
                             f"{owner.dst.name}")
        dst = _place(job.dst)
        taken.add(dst)
        if dst == _place(job.src):
            job.refused = "output would overwrite the input; choose another -o"
        elif dst in inputs:
            job.refused = f"output {job.dst.name} would replace another input of this batch"
        elif job.dst.exists() and not overwrite:
            job.refused = exists_already(job.dst)


def exists_already(dst: Path) -> str:
    return f"output {dst} exists already (--overwrite replaces it)"


def _place(path: Path) -> str:
    """Where a path leads, as a folder that ignores case and Unicode normalization sees it
    (macOS's and Windows's do): `P.jpg` and `p.jpg` are one file there, and the second
    output written would replace the first."""
    return unicodedata.normalize("NFC", str(path.resolve())).casefold()


def _converted(job: BatchJob) -> bool:
    return job.dst.suffix.lower() != job.src.suffix.lower()


def _free_name(dst: Path, taken: set[str]) -> Path:
    number = 2
    while True:
        candidate = dst.with_name(f"{dst.stem}-{number}{dst.suffix}")
        if _place(candidate) not in taken:
            return candidate
        number += 1


def check_side_file(path: Path, flag: str, batch: Batch, overwrite: bool = False,
                    reads: Sequence[Path] = (), also: dict[str, Path] | None = None) -> None:
    """Raise VeilError, before any work, when the file a run writes besides its outputs (a
    report or plan, named by the flag `flag`) would replace an input, a file the run `reads`
    (a plan), an output of the batch, another such file (`also`, by flag) or a folder, or
    lie under a file; or when it exists and is not a report or plan veil wrote, unless
    `overwrite` (`--report IMG_0002.jpg`, one digit off, would otherwise replace an
    original)."""
    said = f"{flag} {path}"
    if path.is_dir():
        raise VeilError(f"{said}: that is a folder; name a file (report.json, plan.json)")
    for above in path.absolute().parents:
        if above.exists():
            if not above.is_dir():
                raise VeilError(f"{said}: {above} is a file, not a folder")
            break
    place = _place(path)
    for job in batch.jobs:
        if place == _place(job.src) or _same_file(path, job.src):
            raise VeilError(f"{said}: that is an input of this run; an input is never replaced")
        if place == _place(job.dst):
            raise VeilError(f"{said}: that is where {job.key} is written; name another file")
    if any(place == _place(read) or _same_file(path, read) for read in reads):
        raise VeilError(f"{said}: that is the plan this run reads; name another file")
    for other, other_path in (also or {}).items():
        if other != flag and place == _place(other_path):
            raise VeilError(f"{said}: {other} names that file too; name two files")
    if path.exists() and not overwrite and not _written_by_veil(path):
        raise VeilError(f"{said}: that file exists and is not a report or plan veil wrote "
                        "(--overwrite replaces it)")


def _same_file(a: Path, b: Path) -> bool:
    """One file under two names (a hard link)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _written_by_veil(path: Path) -> bool:
    """A JSON report (`"tool": "veil"`) or plan (`version` and `files`) of an earlier run."""
    try:
        with open(path, "rb") as fh:
            if fh.read(1) != b"{":
                return False
            data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and (
        data.get("tool") == "veil" or {"version", "files"} <= set(data))


def remove_stale_parts(folders: set[Path], made_since: float | None = None) -> int:
    """Remove temporary outputs (`.veil-*.part`) that a killed run left in `folders`: those
    untouched for STALE_AFTER_S, or, with `made_since` (a run that lost a worker while it
    wrote), those written since that time; returns how many."""
    removed, now = 0, time.time()
    for folder in folders:
        if not folder.is_dir():
            continue
        for part in folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
            try:
                touched = part.stat().st_mtime
                left = touched >= made_since if made_since is not None else (
                    now - touched > STALE_AFTER_S)
                if part.is_file() and left:
                    part.unlink()
                    removed += 1
            except OSError:
                continue
    return removed
