"""The run report: what veil found and did, per file. Geometry only, never pixels or attributes."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._version import __version__
from .media.files import write_atomic

# A detection at or above this score is what a person looking at the photo would call a face.
# veil masks fainter ones too (recall first); the report counts them as regions, not faces.
FACE_SCORE = 0.5
REPORT_VERSION = 2
# A photo whose masks cover more than this share of it is mostly black: in the dev photos that
# is a dense crowd, where thousands of faint detections (faces, hands, shirts) add up. The
# report says so, so that a person reviews the plan rather than reaching for a tool that
# misses faces (docs/benchmarks.md, "Crowds").
MOSTLY_MASKED_SHARE = 0.5
MOSTLY_MASKED = "masks cover"  # how that warning starts


@dataclass
class FileReport:
    """One input's outcome. `faces` and `masks` hold boxes and scores, nothing else."""

    input: str
    output: str | None = None
    # ok: written | refused: veil declined on purpose (a limit, an output that exists, the
    # strict audit) | failed: it could not (damaged, truncated, an internal error)
    status: str = "ok"
    error: str | None = None
    width: int | None = None
    height: int | None = None
    input_format: str | None = None
    output_format: str | None = None
    faces: list[dict[str, Any]] = field(default_factory=list)
    # Licence plates and other lines of text covered (--cover): box, score, category; never
    # what the text says.
    plates_and_text: list[dict[str, Any]] = field(default_factory=list)
    masks: list[dict[str, Any]] = field(default_factory=list)
    faces_found: int = 0  # regions (photo) or tracks (video) scored FACE_SCORE or more
    regions_masked: int = 0  # regions or tracks covered, faint ones included
    masked_share: float | None = None  # (photos) the share of the picture under a mask
    kept_visible: int = 0  # regions or tracks a person chose to leave visible
    # The leak audit: boxes it found visible after the first render (then covered), and
    # (photos) what the second look decided about its findings over 1% of the image.
    audit: dict[str, Any] = field(default_factory=lambda: {"ran": False})
    # The second look at weak candidates too big to be cheap (photos): how many it looked
    # at, kept, replaced by the faces it found inside them, dropped (detect/confirm.py).
    second_look: dict[str, int] | None = None
    backend: str | None = None  # the inference runtime that ran the detectors, if any ran
    # (videos whose two passes ran at once, on a host with many cores) spans detected, parts
    # rendered, parts rendered early from the plan so far, and of those rendered again
    passes: dict[str, int] | None = None
    metadata_removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def mostly_masked(self) -> str | None:
        """The report's line for a photo that came out mostly masked, else None."""
        return next((w for w in self.warnings if w.startswith(MOSTLY_MASKED)), None)


def mostly_masked_warning(share: float, faint: int, regions: int) -> str | None:
    """The warning for a photo whose masks cover `share` of it, if that is too much and
    faint detections are among them (regions a person drew are as they meant)."""
    if share <= MOSTLY_MASKED_SHARE or not faint:
        return None
    return (f"{MOSTLY_MASKED} {share:.0%} of the picture ({faint} of its {regions} regions are "
            "faint detections, as in a crowd): to leave visible what is not a face, review "
            "its plan (--plan-out, then --plan-in)")


@dataclass
class RunReport:
    """A whole run: options, per-file reports, files the walk skipped, and a summary."""

    options: dict[str, Any]
    files: list[FileReport] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"input", "reason"}
    output: str | None = None  # where the outputs went (a folder or a file)
    # A run on Ray (--ray): the cluster (address, nodes, CPUs), actors, and each retry.
    ray: dict[str, Any] | None = None
    started: float = field(default_factory=time.time)

    def summary(self) -> dict[str, Any]:
        """Counts for the run: files by outcome, and faces, masks and kept regions written."""
        written = [f for f in self.files if f.status == "ok"]
        return {
            "files": len(self.files),
            "written": len(written),
            "refused": sum(f.status == "refused" for f in self.files),
            "failed": sum(f.status == "failed" for f in self.files),
            "skipped": len(self.skipped),
            "faces": sum(f.faces_found for f in written),
            "plates": sum(r.get("category") == "plate" for f in written
                          for r in f.plates_and_text),
            "text": sum(r.get("category") == "text" for f in written for r in f.plates_and_text),
            "masked": sum(f.regions_masked for f in written),
            "kept_visible": sum(f.kept_visible for f in written),
            "output": self.output,
            "seconds": round(time.time() - self.started, 3),
        }

    def to_json(self) -> dict[str, Any]:
        return valid_text({
            "tool": "veil",
            "version": __version__,
            "report_version": REPORT_VERSION,
            "options": self.options,
            "summary": self.summary(),
            "files": [f.to_json() for f in self.files],
            "skipped": self.skipped,
            **({"ray": self.ray} if self.ray is not None else {}),
        })

    def write(self, path: Path) -> None:
        """Write the report as JSON (atomically, like every output)."""
        write_atomic(Path(path), (json.dumps(self.to_json(), indent=1) + "\n").encode())


def valid_text(value: Any) -> Any:
    """`value` with every text valid Unicode: a file name that is not UTF-8 reaches Python
    holding lone surrogates, which JSON would carry as `\\udcff`, text strict parsers
    refuse; its bytes are written as `\\xff` instead."""
    if isinstance(value, str):
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate no file name makes
            raw = value.encode("utf-8", "backslashreplace")
        return raw.decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {valid_text(k): valid_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [valid_text(v) for v in value]
    return value


class StageTimer:
    """Seconds spent in each named stage of one file's run, for its report."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.spans: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        begun = time.perf_counter()
        try:
            yield
        finally:
            self.spans[name] = self.spans.get(name, 0.0) + time.perf_counter() - begun

    def timings(self, digits: int = 4) -> dict[str, float]:
        """Each stage and the total, rounded."""
        total = time.perf_counter() - self.started
        return {k: round(v, digits) for k, v in {**self.spans, "total": total}.items()}
