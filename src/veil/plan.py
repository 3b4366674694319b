"""The mask plan: the regions to cover in each image, as plain data with a JSON form.

A plan is what detection produces, what a person reviews and edits, and the only input
rendering needs. It holds geometry and nothing else about a person. A plan file's entries
also hold the SHA-256 of the file each was made from (`sha256`): the regions of one burst
photo are never rendered onto another of the same size that took its name.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError, VeilError
from .media.files import file_sha256, write_atomic

PLAN_VERSION = 1
# What a plan may hold: beyond these it is refused (a plan is data a person may have edited,
# or a client sent).
MAX_REGIONS = 100_000  # per photo, and hand-drawn regions per video
MAX_TRACKS = 100_000
MAX_DEPTH = 8  # nesting of a plan file: {files: {name: {regions: [{box: [...]}]}}}
MAX_SOURCE = 40
REACH = 4  # how many image sizes past its edges a box may reach
SHAPES = ("box", "ellipse")
CATEGORIES = ("face", "plate", "text")  # what a region covers
MAX_MARGIN = 3.0  # as --margin allows
SHA256 = re.compile(r"[0-9a-f]{64}")
# The source of a region (or a video box) that the leak audit found: where the plan had gone
# wrong, so masks.geometry gives it the whole margin however sure it is.
AUDIT = "audit"


def _number(value: Any, what: str) -> float:
    """A finite JSON number (not a string, not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise VeilError(f"plan: {what} must be a finite number, not {_shown(value)}")
    return float(value)


def _integer(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise VeilError(f"plan: {what} must be a whole number from {low} to {high}, not "
                        f"{_shown(value)}")
    return value


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise VeilError(f"plan: {what} must be true or false, not {_shown(value)}")
    return value


def _category(value: Any) -> str:
    if value not in CATEGORIES:
        raise VeilError(f"plan: a region's category must be one of {', '.join(CATEGORIES)}, "
                        f"not {_shown(value)}")
    return str(value)


def _shape(value: Any) -> str | None:
    if value is not None and value not in SHAPES:
        raise VeilError(f"plan: a region's shape must be box or ellipse, not {_shown(value)}")
    return value


def _margin(value: Any) -> float | None:
    if value is None:
        return None
    margin = _number(value, "a region's margin")
    if not 0 <= margin <= MAX_MARGIN:
        raise VeilError(f"plan: a region's margin must be from 0 to {MAX_MARGIN}, not {margin:g}")
    return margin


def _sure(value: Any, boxes: dict[int, list[float]]) -> set[int]:
    """A track's sure frames: frames it has a box in."""
    frames = _list(value, "a track's sure frames", len(boxes))
    if not all(isinstance(f, int) and not isinstance(f, bool) and f in boxes for f in frames):
        raise VeilError("plan: a track's sure frames must be frames it has a box in")
    return set(frames)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise VeilError(f"plan: {what} must be an object, not {_shown(value)}")
    return value


def _list(value: Any, what: str, most: int) -> list[Any]:
    if not isinstance(value, list):
        raise VeilError(f"plan: {what} must be a list, not {_shown(value)}")
    if len(value) > most:
        raise VeilError(f"plan: {what} holds {len(value)} entries, over the limit of {most}")
    return value


def _sha256(data: dict[str, Any]) -> str | None:
    """The optional fingerprint of the file a plan entry was made from."""
    value = data.get("sha256")
    if value is None:
        return None
    if not isinstance(value, str) or not SHA256.fullmatch(value):
        raise VeilError(f"plan: sha256 must be 64 lowercase hex digits, not {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _box(value: Any, width: int, height: int) -> tuple[float, float, float, float]:
    """Four finite numbers, x2 > x1 and y2 > y1, near the image: a box may reach past the
    edge (a face at the border; a track's box carried on past the frame as the face leaves)
    but not by more than REACH times the image's size."""
    box = _list(value, "a region's box", 4)
    if len(box) != 4:
        raise VeilError(f"plan: a region's box needs four numbers, not {_shown(value)}")
    x1, y1, x2, y2 = (_number(v, "a box coordinate") for v in box)
    if not (x2 > x1 and y2 > y1):
        raise VeilError(f"plan region box must have x2 > x1 and y2 > y1: {_shown(value)}")
    if not (-REACH * width <= x1 and x2 <= (REACH + 1) * width
            and -REACH * height <= y1 and y2 <= (REACH + 1) * height):
        raise VeilError(f"plan: box {_shown(value)} lies far outside the {width}x{height} image")
    return x1, y1, x2, y2


def _depth(value: Any) -> int:
    """How deeply JSON containers nest (iteratively: a hostile plan may nest thousands deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((v, depth + 1) for v in children)
    return deepest


def parse_plan_json(text: str | bytes) -> Any:
    """JSON text of a plan, parsed with its nesting bounded; VeilError with one line when it
    is not JSON or nests deeper than a plan does."""
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise VeilError("plan: JSON nested far deeper than a plan") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VeilError(f"the plan is not valid JSON: {exc}") from exc
    if _depth(data) > MAX_DEPTH:
        raise VeilError(f"plan: JSON nested deeper than a plan ({MAX_DEPTH} levels)")
    return data


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
    # How this region's mask is drawn, when it differs from the run's options. A region a
    # person drew is covered as drawn (a box, no margin) unless these say otherwise.
    shape: str | None = None
    margin: float | None = None
    # What it covers: a face, a licence plate or a line of other text (--cover).
    category: str = "face"

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "box": [round(self.x1, 1), round(self.y1, 1), round(self.x2, 1), round(self.y2, 1)],
            "score": round(float(self.score), 4),
            "source": self.source,
            "keep": self.keep,
        }
        if self.shape is not None:
            out["shape"] = self.shape
        if self.margin is not None:
            out["margin"] = self.margin
        if self.category != "face":  # plans from before categories hold faces only
            out["category"] = self.category
        return out

    @classmethod
    def from_json(cls, data: Any, width: int, height: int) -> Region:
        """A region from its JSON form, checked strictly against an image's size."""
        data = _object(data, "a region")
        if "box" not in data:
            raise VeilError(f"plan region needs a 'box' of four numbers: {_shown(data)}")
        source = data.get("source", "person")
        if not isinstance(source, str) or not 0 < len(source) <= MAX_SOURCE:
            raise VeilError(f"plan: a region's source must be a short text, not {_shown(source)}")
        return cls(
            *_box(data["box"], width, height),
            score=_number(data.get("score", 1.0), "a region's score"),
            source=source,
            keep=_flag(data.get("keep", False), "a region's keep"),
            shape=_shape(data.get("shape")),
            margin=_margin(data.get("margin")),
            category=_category(data.get("category", "face")),
        )


@dataclass
class ImagePlan:
    """The regions for one image of a given size."""

    width: int
    height: int
    regions: list[Region] = field(default_factory=list)
    sha256: str | None = None  # of the file it was made from, in a plan file

    def to_json(self) -> dict[str, Any]:
        return {
            "media": "image",
            "width": self.width,
            "height": self.height,
            **({"sha256": self.sha256} if self.sha256 else {}),
            "regions": [r.to_json() for r in self.regions],
        }

    @classmethod
    def from_json(cls, data: Any) -> ImagePlan:
        """A photo's plan from its JSON form; VeilError with one line when anything in it is
        not what a plan holds."""
        data = _object(data, "a photo's plan")
        for key in ("width", "height"):
            if key not in data:
                raise VeilError(f"plan entry needs width, height and regions: no {key!r}")
        width = _integer(data["width"], "width", 1, 1_000_000)
        height = _integer(data["height"], "height", 1, 1_000_000)
        regions = _list(data.get("regions", []), "regions", MAX_REGIONS)
        return cls(width, height, [Region.from_json(r, width, height) for r in regions],
                   _sha256(data))

    def drop_faint(self, min_score: float) -> None:
        """Forget detections scored under `min_score` (never a region a person drew)."""
        if min_score > 0:
            self.regions = [r for r in self.regions
                            if r.score >= min_score or r.source == "person"]

    @property
    def to_cover(self) -> list[Region]:
        """Regions that will be masked (everything a person did not mark to keep)."""
        return [r for r in self.regions if not r.keep]


@dataclass
class VideoTrack:
    """One face (or plate, or line of text) over time as a mask: frame index -> box, ready
    to render (gaps filled)."""

    id: int
    boxes: dict[int, list[float]]
    keep: bool = False
    source: str = "tracker"
    score: float = 1.0  # the detector's highest score for it in any frame
    category: str = "face"  # as a Region's: face, plate or text
    # The frames where the detector placed this box itself and surely (masks.SURE_SCORE;
    # found there, or carried by the schedule where nothing changed since), not where it
    # was filled in between, led, trailed, or found by the leak audit.
    sure: set[int] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "keep": self.keep,
            "source": self.source,
            "score": round(float(self.score), 4),
            "boxes": {str(f): [round(v, 1) for v in b] for f, b in sorted(self.boxes.items())},
        }
        if self.category != "face":  # plans from before categories hold faces only
            out["category"] = self.category
        if self.sure:
            out["sure"] = sorted(self.sure)
        return out

    def region(self, index: int, box: list[float]) -> Region:
        """The region to cover in frame `index`, where the track has `box`. A face gets the
        run's mask shape, and the sure margin (masks.geometry) only in its sure frames: a
        box filled in, led or trailed is a guess, and a track's best score does not make
        all its boxes sure (that cost the sideways bench clip 17 face-frames). A plate or a
        line is covered as the box it was found in, as in a photo."""
        if self.category == "face":
            return Region(box[0], box[1], box[2], box[3],
                          self.score if index in self.sure else 0.0, self.source)
        return Region(box[0], box[1], box[2], box[3], self.score, self.source, shape="box",
                      margin=0.0, category=self.category)

    @classmethod
    def from_json(cls, data: Any, width: int, height: int, frames: int) -> VideoTrack:
        """A track from its JSON form, checked against the video's size and length."""
        data = _object(data, "a track")
        if "boxes" not in data or not isinstance(data["boxes"], dict):
            raise VeilError("plan track needs 'boxes' as {frame: box}")
        if len(data["boxes"]) > frames:
            raise VeilError(f"plan: a track has boxes on more than the video's {frames} frames")
        boxes = {}
        for key, box in data["boxes"].items():
            if not (isinstance(key, str) and key.isdigit() and int(key) < frames):
                raise VeilError(f"plan: track frame {_shown(key)} is not a frame of this video")
            boxes[int(key)] = list(_box(box, width, height))
        source = data.get("source", "tracker")
        if not isinstance(source, str) or not 0 < len(source) <= MAX_SOURCE:
            raise VeilError(f"plan: a track's source must be a short text, not {_shown(source)}")
        track_id = _integer(data.get("id", 0), "a track's id", 0, 2**31)
        keep = _flag(data.get("keep", False), "a track's keep")
        return cls(track_id, boxes, keep, source, _number(data.get("score", 1.0), "a score"),
                   _category(data.get("category", "face")), _sure(data.get("sure", []), boxes))


@dataclass
class VideoPlan:
    """Tracks and hand-drawn regions (each over a frame range) for a video."""

    width: int
    height: int
    frames: int
    tracks: list[VideoTrack] = field(default_factory=list)
    # (first frame, last frame, region), inclusive; drawn by a person.
    regions: list[tuple[int, int, Region]] = field(default_factory=list)
    sha256: str | None = None  # of the file it was made from, in a plan file

    def regions_by_frame(self) -> list[list[Region]]:
        """What to cover in each frame (tracks a person kept visible are left out), built
        once from the tracks' sparse boxes rather than by asking every track per frame."""
        out: list[list[Region]] = [[] for _ in range(self.frames)]
        for track in self.tracks:
            if track.keep:
                continue
            for index, box in track.boxes.items():
                if 0 <= index < self.frames:
                    out[index].append(track.region(index, box))
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
            **({"sha256": self.sha256} if self.sha256 else {}),
            "tracks": [t.to_json() for t in self.tracks],
            "regions": [{**r.to_json(), "frames": [a, b]} for a, b, r in self.regions],
        }

    @classmethod
    def from_json(cls, data: Any) -> VideoPlan:
        """A video's plan from its JSON form; VeilError with one line when anything in it is
        not what a plan holds."""
        data = _object(data, "a video's plan")
        for key in ("width", "height", "frames"):
            if key not in data:
                raise VeilError(f"video plan needs width, height, frames and tracks: no {key!r}")
        width = _integer(data["width"], "width", 1, 1_000_000)
        height = _integer(data["height"], "height", 1, 1_000_000)
        frames = _integer(data["frames"], "frames", 1, 100_000_000)
        regions = []
        for r in _list(data.get("regions", []), "regions", MAX_REGIONS):
            span = _list(_object(r, "a region").get("frames"), "a region's frames", 2)
            if len(span) != 2:
                raise VeilError("plan: a video region needs 'frames': [first, last]")
            first = _integer(span[0], "a region's first frame", 0, frames - 1)
            last = _integer(span[1], "a region's last frame", first, frames - 1)
            regions.append((first, last, Region.from_json(r, width, height)))
        tracks = [
            VideoTrack.from_json(t, width, height, frames)
            for t in _list(data.get("tracks", []), "tracks", MAX_TRACKS)
        ]
        return cls(width, height, frames, tracks, regions, _sha256(data))


def plan_from_json(data: Any) -> ImagePlan | VideoPlan:
    """An image or a video plan, by its 'media' field, checked strictly."""
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

    def add(self, key: str, plan: ImagePlan | VideoPlan, src: Path) -> None:
        """Hold `plan` as the plan of `key`, marked with the SHA-256 of `src`, the file it
        was made from (a plan rendered again keeps the mark it came with)."""
        with contextlib.suppress(OSError):  # gone since it was read: the plan goes unmarked
            plan.sha256 = plan.sha256 or file_sha256(src)
        self.files[key] = plan

    def for_file(self, key: str, src: Path) -> ImagePlan | VideoPlan:
        """The plan of `key`, to render onto `src`; VeilError when there is none, or when it
        was made from a file with other bytes (a photo renamed into its place: its regions
        would miss this one's faces)."""
        if key not in self.files:
            raise VeilError("not in the plan given with --plan-in (nothing rendered)")
        plan = self.files[key]
        try:
            made_from = plan.sha256 is None or plan.sha256 == file_sha256(src)
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}") from exc
        if not made_from:
            raise VeilError("the plan was made from another file (its sha256 differs): "
                            "detect this one again, or delete the entry's sha256 to apply it")
        return plan

    def dump(self, path: Path) -> None:
        """Write the plan as JSON, all or nothing."""
        write_atomic(Path(path), (json.dumps(self.to_json(), indent=1) + "\n").encode())

    @classmethod
    def load(cls, path: Path) -> PlanSet:
        """Read a plan written by `veil detect` or `--plan-out` (possibly edited by a person)."""
        try:
            text = Path(path).read_bytes()
        except FileNotFoundError as exc:
            raise VeilError(f"plan file not found: {path}") from exc
        except OSError as exc:
            raise VeilError(f"cannot read the plan file {path}: {exc.strerror or exc}") from exc
        return cls.from_json(parse_plan_json(text))

