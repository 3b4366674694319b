"""The run report: what veil found and did, per file. Geometry only, never pixels or attributes."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import __version__


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
        from .media.image import write_atomic

        write_atomic(Path(path), (json.dumps(self.to_json(), indent=1) + "\n").encode())
