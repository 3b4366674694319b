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


@dataclass
class FileReport:
    """One input's outcome. `faces` and `masks` hold boxes and scores, nothing else."""

    input: str
    output: str | None = None
    status: str = "ok"  # ok | error
    error: str | None = None
    width: int | None = None
    height: int | None = None
    input_format: str | None = None
    output_format: str | None = None
    faces: list[dict[str, Any]] = field(default_factory=list)
    masks: list[dict[str, Any]] = field(default_factory=list)
    kept_visible: int = 0
    # The leak audit: boxes it found visible after the first render (then covered).
    audit: dict[str, Any] = field(default_factory=lambda: {"ran": False})
    metadata_removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunReport:
    """A whole run: options, per-file reports and a summary."""

    options: dict[str, Any]
    files: list[FileReport] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        ok = [f for f in self.files if f.status == "ok"]
        return {
            "tool": "veil",
            "version": __version__,
            "report_version": 1,
            "options": self.options,
            "summary": {
                "files": len(self.files),
                "ok": len(ok),
                "failed": len(self.files) - len(ok),
                "faces": sum(len(f.faces) for f in ok),
                "masks": sum(len(f.masks) for f in ok),
                "seconds": round(time.time() - self.started, 3),
            },
            "files": [f.to_json() for f in self.files],
        }

    def write(self, path: Path) -> None:
        """Write the report as JSON (atomically, like every output)."""
        write_atomic(Path(path), (json.dumps(self.to_json(), indent=1) + "\n").encode())


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
