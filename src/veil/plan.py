"""The mask plan: the regions to cover in each image, as plain data with a JSON form.

A plan is what detection produces, what a person reviews and edits, and the only input
rendering needs. It holds geometry and nothing else about a person.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import VeilError
from .media.files import write_atomic

PLAN_VERSION = 1


@dataclass
class Region:
    """A rectangle to cover (x1, y1, x2, y2 in pixels of the upright image)."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0
    # Where it came from: a detector's name, "ensemble", "audit", "tracker" or "person"
    # (drawn or confirmed by a human reviewer).
    source: str = "person"
    # A person chose to leave this face visible; rendering skips it.
    keep: bool = False

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def to_json(self) -> dict[str, Any]:
        return {
            "box": [round(self.x1, 1), round(self.y1, 1), round(self.x2, 1), round(self.y2, 1)],
            "score": round(float(self.score), 4),
            "source": self.source,
            "keep": self.keep,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Region:
        try:
            x1, y1, x2, y2 = (float(v) for v in data["box"])
        except (KeyError, TypeError, ValueError) as exc:
            raise VeilError(f"plan region needs a 'box' of four numbers: {data!r}") from exc
        if not (x2 > x1 and y2 > y1):
            raise VeilError(f"plan region box must have x2 > x1 and y2 > y1: {data['box']!r}")
        return cls(
            x1,
            y1,
            x2,
            y2,
            score=float(data.get("score", 1.0)),
            source=str(data.get("source", "person")),
            keep=bool(data.get("keep", False)),
        )


@dataclass
class ImagePlan:
    """The regions for one image of a given size."""

    width: int
    height: int
    regions: list[Region] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "media": "image",
            "width": self.width,
            "height": self.height,
            "regions": [r.to_json() for r in self.regions],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImagePlan:
        try:
            width, height = int(data["width"]), int(data["height"])
            regions = [Region.from_json(r) for r in data.get("regions", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise VeilError(f"plan entry needs width, height and regions: {exc}") from exc
        return cls(width, height, regions)

    @property
    def to_cover(self) -> list[Region]:
        """Regions that will be masked (everything a person did not mark to keep)."""
        return [r for r in self.regions if not r.keep]


@dataclass
class VideoTrack:
    """One face over time as a mask: frame index -> box, ready to render (gaps filled)."""

    id: int
    boxes: dict[int, list[float]]
    keep: bool = False
    source: str = "tracker"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "keep": self.keep,
            "source": self.source,
            "boxes": {str(f): [round(v, 1) for v in b] for f, b in sorted(self.boxes.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoTrack:
        try:
            boxes = {int(f): [float(v) for v in b] for f, b in data["boxes"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise VeilError(f"plan track needs 'boxes' as {{frame: box}}: {exc}") from exc
        if any(len(b) != 4 for b in boxes.values()):
            raise VeilError("plan track boxes must have four numbers")
        return cls(
            int(data.get("id", 0)),
            boxes,
            bool(data.get("keep", False)),
            str(data.get("source", "tracker")),
        )


@dataclass
class VideoPlan:
    """Tracks and hand-drawn regions (each over a frame range) for a video."""

    width: int
    height: int
    frames: int
    tracks: list[VideoTrack] = field(default_factory=list)
    # (first frame, last frame, region), inclusive; drawn by a person.
    regions: list[tuple[int, int, Region]] = field(default_factory=list)

    def regions_by_frame(self) -> list[list[Region]]:
        """What to cover in each frame (tracks a person kept visible are left out), built
        once from the tracks' sparse boxes rather than by asking every track per frame."""
        out: list[list[Region]] = [[] for _ in range(self.frames)]
        for track in self.tracks:
            if track.keep:
                continue
            for index, box in track.boxes.items():
                if 0 <= index < self.frames:
                    out[index].append(Region(box[0], box[1], box[2], box[3], source=track.source))
        for first, last, region in self.regions:
            if not region.keep:
                for index in range(max(first, 0), min(last, self.frames - 1) + 1):
                    out[index].append(region)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "media": "video",
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "tracks": [t.to_json() for t in self.tracks],
            "regions": [{**r.to_json(), "frames": [a, b]} for a, b, r in self.regions],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoPlan:
        try:
            regions = []
            for r in data.get("regions", []):
                a, b = (int(v) for v in r["frames"])
                regions.append((a, b, Region.from_json(r)))
            return cls(
                int(data["width"]),
                int(data["height"]),
                int(data["frames"]),
                [VideoTrack.from_json(t) for t in data.get("tracks", [])],
                regions,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise VeilError(f"video plan needs width, height, frames and tracks: {exc}") from exc


def plan_from_json(data: dict[str, Any]) -> ImagePlan | VideoPlan:
    """An image or a video plan, by its 'media' field."""
    if isinstance(data, dict) and data.get("media") == "video":
        return VideoPlan.from_json(data)
    return ImagePlan.from_json(data)


@dataclass
class PlanSet:
    """Plans for a run, keyed by each input's path relative to the input root."""

    files: dict[str, ImagePlan | VideoPlan] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"version": PLAN_VERSION, "files": {k: v.to_json() for k, v in self.files.items()}}

    @classmethod
    def from_json(cls, data: Any) -> PlanSet:
        if not isinstance(data, dict) or "files" not in data:
            raise VeilError("not a veil plan: expected an object with 'version' and 'files'")
        if data.get("version") != PLAN_VERSION:
            raise VeilError(f"unsupported plan version {data.get('version')!r}")
        files = data["files"]
        if not isinstance(files, dict):
            raise VeilError("plan 'files' must be an object")
        return cls({str(k): plan_from_json(v) for k, v in files.items()})

    def dump(self, path: Path) -> None:
        """Write the plan as JSON, all or nothing."""
        write_atomic(Path(path), (json.dumps(self.to_json(), indent=1) + "\n").encode())

    @classmethod
    def load(cls, path: Path) -> PlanSet:
        """Read a plan written by `veil detect` or `--plan-out` (possibly edited by a person)."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise VeilError(f"plan file not found: {path}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise VeilError(f"plan file is not valid JSON: {path}: {exc}") from exc
        return cls.from_json(data)

