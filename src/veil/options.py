"""What a user can choose, declared once: each option's name, type, default, allowed values
and help text.

The CLI's flags (with their choices and defaults), the service's form fields (and so its
OpenAPI schema), the options stored with a service job and the engine all read these
classes. Values are checked when an options object is made, so a bad value gets the same
one-line VeilError from every front end. Adding an option is one field here plus its use in
the engine (docs/architecture.md has a worked example).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import ImageColor

from .errors import VeilError
from .formats import OUTPUT_CHOICES

# Inference runtimes and devices (detect/runtime.py resolves "auto" to one of them).
BACKENDS: tuple[str, ...] = ("auto", "onnxruntime", "openvino")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

PHOTO_PROFILES = ("fast", "balanced", "thorough")
DEFAULT_PROFILE = "balanced"
# How far past a detected box a mask reaches, per side, as a share of the box's size; chosen
# with bench/tune.py (docs/benchmarks.md).
DEFAULT_MARGIN = 0.25
# Videos: the smallest face to catch, in frame pixels (profiles.video_profile uses it).
DEFAULT_MIN_FACE = 15.0
# Above a phone's photos (up to 50 MP) and a newsroom camera's (up to 61 MP); a 64 MP image
# is processed within 2 GiB and 60 s on 2 cores (tests/hostile.py). Medium format cameras
# (100 MP) need --max-megapixels 110.
DEFAULT_MAX_MEGAPIXELS = 64.0


def parse_color(value: Any) -> tuple[int, int, int]:
    """A colour name, #rrggbb, or three 0-255 numbers, as an RGB tuple."""
    if isinstance(value, str):
        try:
            r, g, b = ImageColor.getrgb(value)[:3]
        except ValueError as exc:
            raise VeilError(f"color: not a colour: {value!r}") from exc
        return r, g, b
    try:
        r, g, b = (int(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise VeilError(f"color: not a colour: {value!r}") from exc
    if not all(0 <= v <= 255 for v in (r, g, b)):
        raise VeilError(f"color: not a colour: {value!r}")
    return r, g, b


COVERABLE = ("faces", "plates", "text", "pii")


def parse_cover(value: Any) -> tuple[str, ...] | None:
    """What to cover, as `faces,plates` (or a list): faces always among them; None: the
    default for each kind of file."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    chosen = tuple(dict.fromkeys(str(item).strip().lower() for item in items if str(item).strip()))
    unknown = [item for item in chosen if item not in COVERABLE]
    if unknown:
        raise VeilError(f"cover: {', '.join(unknown)} is not one of {', '.join(COVERABLE)}")
    if "faces" not in chosen:
        raise VeilError("cover: faces are always covered; list them (--cover faces,plates)")
    return chosen


def option(
    default: Any,
    help: str,
    *,
    name: str | None = None,
    choices: tuple[Any, ...] | None = None,
    low: float | None = None,
    high: float | None = None,
    parse: Callable[[Any], Any] | None = None,
    shown: str | None = None,
    service: bool = True,
) -> Any:
    """A dataclass field that carries what every front end needs to offer it.

    `name` is what users type (--NAME, the form field NAME; default: the field's name);
    `parse` turns text or JSON into the value; `shown` is the default as help shows it;
    `service` False keeps an option off the service's form (the operator sets it there).
    """
    meta = {
        "name": name,
        "help": help,
        "choices": choices,
        "low": low,
        "high": high,
        "parse": parse,
        "shown": shown,
        "service": service,
    }
    return field(default=default, metadata=meta)


class CommandParser(argparse.ArgumentParser):
    """An argument parser for veil's commands: a usage mistake is one line on stderr (what is
    wrong and where the help is) and exit status 2, not argparse's usage block; the help
    keeps the description's line breaks."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> Any:  # argparse's signature says NoReturn
        self.exit(2, f"{self.prog}: {' '.join(message.split())} (see {self.prog} --help)\n")


@dataclass(frozen=True)
class OptionSpec:
    """One option as front ends see it (read off the dataclass fields by `specs`)."""

    group: str  # the field of Options that holds it: mask, detect, encode, limits
    field: str  # its field in that group
    name: str  # what users type
    type: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None
    low: float | None
    high: float | None
    parse: Callable[[Any], Any] | None
    shown: str | None
    service: bool

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def add_to(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
        """This option as a command-line flag: bools switch, the rest take a value.

        Values stay text: Options converts and checks them, with the same messages the
        service gives; choices and the default are shown in --help.
        """
        if self.type is bool:
            if self.default:
                parser.add_argument(
                    f"--no-{self.name.replace('_', '-')}", dest=self.name, action="store_false",
                    help=f"skip {self.help}",
                )
            else:
                parser.add_argument(self.flag, dest=self.name, action="store_true", help=self.help)
            return
        shown = self.shown or self.default
        if isinstance(shown, float):
            shown = f"{shown:g}"
        choices = [str(c) for c in self.choices or () if c is not None]
        parser.add_argument(
            self.flag,
            dest=self.name,
            metavar="{" + ",".join(choices) + "}" if choices else None,
            default=self.default if self.shown is None else self.shown,
            help=self.help + ("" if shown is None else f" (default {shown})"),
        )

    def convert(self, value: Any) -> Any:
        """Text or JSON to this option's value; raises VeilError with a one-line reason."""
        if self.parse is not None:
            return self.parse(value)
        if value is None or self.type in (str, type(None)):
            return value
        try:
            if self.type is bool and isinstance(value, str):
                truth = {"true": True, "1": True, "false": False, "0": False}
                return truth[value.strip().lower()]
            if self.type is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return self.type(value)
        except (KeyError, TypeError, ValueError) as exc:
            raise VeilError(f"{self.name}: not a valid {self.type.__name__}: {value!r}") from exc

    def check(self, value: Any) -> None:
        """Raise VeilError when `value` is not allowed."""
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(str(c) for c in self.choices if c is not None)
            raise VeilError(f"{self.name}: {value!r} is not one of {allowed}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        if not (math.isfinite(value) and low <= value <= high):
            raise VeilError(f"{self.name} must be a number between {low:g} and {high:g}")


_TYPES = {"str": str, "float": float, "int": int, "bool": bool}


def _specs_of(cls: type, group: str) -> Iterator[OptionSpec]:
    for f in dataclasses.fields(cls):
        meta = f.metadata
        kind = str(f.type).split("|")[0].strip()
        yield OptionSpec(
            group=group,
            field=f.name,
            name=meta["name"] or f.name,
            type=_TYPES.get(kind, str),
            default=f.default,
            help=meta["help"],
            choices=meta["choices"],
            low=meta["low"],
            high=meta["high"],
            parse=meta["parse"],
            shown=meta["shown"],
            service=meta["service"],
        )


class _Checked:
    """Checks every field against its spec when an options object is made."""

    def __post_init__(self) -> None:
        for spec in _specs_of(type(self), ""):
            spec.check(getattr(self, spec.field))


@dataclass(frozen=True)
class MaskOptions(_Checked):
    """How masks are drawn."""

    style: Literal["solid", "mosaic", "blur"] = option(
        "solid",
        "solid fill, coarse mosaic with noise, or blur (reversible!)",
        name="mask",
        choices=("solid", "mosaic", "blur"),
    )
    shape: Literal["ellipse", "box"] = option(
        "ellipse",
        "an ellipse inscribed in the grown box, or the box itself",
        choices=("ellipse", "box"),
    )
    margin: float = option(
        DEFAULT_MARGIN,
        "how far past each face box the mask reaches, as a share of the box's size on each side",
        low=0.0,
        high=3.0,
    )
    color: tuple[int, int, int] = option(
        (0, 0, 0), "fill colour for --mask solid (name or #rrggbb)", parse=parse_color,
        shown="black",
    )


@dataclass(frozen=True)
class DetectOptions(_Checked):
    """How hard to look for faces, and how to check the result."""

    profile: str = option(
        DEFAULT_PROFILE,
        "photos: detection effort (see docs/benchmarks.md for figures)",
        choices=PHOTO_PROFILES,
    )
    audit: bool = option(
        True, "the leak audit: a second look at each output for visible faces"
    )
    strict: bool = option(
        False, "fail a file (no output) if the leak audit still finds a visible face"
    )
    min_score: float = option(
        0.0,
        "cover only detections scored this or more (0 to 1; 0: all the profile finds); "
        "higher means fewer false masks and more missed faces (README: what each costs)",
        low=0.0,
        high=1.0,
    )
    backend: str = option(
        "auto",
        "inference runtime that runs the detectors; auto is the fastest measured that keeps "
        "recall (docs/benchmarks.md); the report names the one that ran",
        choices=BACKENDS,
        service=False,
    )
    device: str = option(
        "auto",
        "where the detectors run: cuda (a GPU, with pip install 'veil[gpu]'), cpu, or auto "
        "(the GPU where there is one); the report names the one that ran",
        choices=DEVICES,
        service=False,
    )
    cover: tuple[str, ...] | None = option(
        None,
        "what to cover: faces, plates, text (every legible line), pii (lines that read as "
        "personal data: names, numbers, addresses, e-mail; read, never kept), "
        "comma-separated; default faces and plates in photos, faces in videos and animations "
        "(plates cost them about a third more time: ask for them there)",
        parse=parse_cover,
    )
    min_face: float = option(
        DEFAULT_MIN_FACE,
        "videos: height in pixels of the smallest face to catch; detection runs on a frame "
        "scaled so such a face is 10 px, so a larger value is faster",
        low=1.0,
        high=1000.0,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cover is not None:
            object.__setattr__(self, "cover", parse_cover(self.cover))

    def covering(self, still: bool) -> tuple[str, ...]:
        """What is covered in a still photo (`still`) or in frames (a video, an animation)."""
        if self.cover is not None:
            return self.cover
        return ("faces", "plates") if still else ("faces",)


@dataclass(frozen=True)
class EncodeOptions(_Checked):
    """What outputs are written as."""

    format: str | None = option(
        None,
        "photos: output format (default: keep the input's; HEIC/AVIF become JPEG)",
        choices=(None, *OUTPUT_CHOICES),
    )
    audio: Literal["copy", "drop"] = option(
        "copy", "videos: copy the sound bit for bit, or drop it", choices=("copy", "drop")
    )
    codec: str = option(
        "libx264", "videos: FFmpeg video encoder (on a GPU with NVENC, its twin)", service=False
    )
    crf: int = option(20, "videos: encoder quality (x264 CRF: 0-51, lower is better)", low=0,
                      high=63, service=False)
    preset: str = option("veryfast", "videos: encoder preset", service=False)


@dataclass(frozen=True)
class Limits(_Checked):
    """What veil refuses to open, checked before pixels are allocated (the service's operator
    sets these, not its clients)."""

    max_megapixels: float = option(
        DEFAULT_MAX_MEGAPIXELS,
        "photos: refuse larger images (decompression-bomb guard)",
        low=0.01,
        high=10_000.0,
        service=False,
    )
    max_frame_megapixels: float = option(
        36.0,
        "videos: refuse larger frames (8K UHD is 33)",
        low=0.01,
        high=1_000.0,
        service=False,
    )
    max_frames: int = option(
        432_000,
        "videos: refuse longer videos, in frames (two hours at 60 a second)",
        low=1,
        high=100_000_000,
        service=False,
    )
    max_jpeg_scans: int = option(
        100,
        "photos: refuse JPEGs with more scans (a real progressive JPEG has about 10)",
        low=1,
        high=100_000,
        service=False,
    )

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1e6)

    @property
    def max_frame_pixels(self) -> int:
        return int(self.max_frame_megapixels * 1e6)


@dataclass(frozen=True)
class Options:
    """Everything a user can choose for one run of the engine."""

    mask: MaskOptions = field(default_factory=MaskOptions)
    detect: DetectOptions = field(default_factory=DetectOptions)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def from_flat(cls, values: Mapping[str, Any]) -> Options:
        """Options from user-facing names (as the CLI, the form or a stored job give them);
        names left out keep their defaults, unknown names are an error."""
        unknown = set(values) - {s.name for s in specs()}
        if unknown:
            raise VeilError(f"unknown option(s): {', '.join(sorted(unknown))}")
        groups: dict[str, dict[str, Any]] = {g: {} for g in _GROUPS}
        for spec in specs():
            if spec.name in values:
                groups[spec.group][spec.field] = spec.convert(values[spec.name])
        return cls(**{g: _GROUPS[g](**kw) for g, kw in groups.items()})

    def to_flat(self, service: bool = False) -> dict[str, Any]:
        """The options by user-facing name, as JSON values (reports, stored jobs); with
        `service`, only those the service's clients may set."""
        out: dict[str, Any] = {}
        for spec in specs(service):
            value = getattr(getattr(self, spec.group), spec.field)
            out[spec.name] = list(value) if isinstance(value, tuple) else value
        return out


_GROUPS: dict[str, type] = {
    "mask": MaskOptions,
    "detect": DetectOptions,
    "encode": EncodeOptions,
    "limits": Limits,
}


def specs(service: bool = False, group: str | None = None) -> list[OptionSpec]:
    """Every option (with `service`, only those the service's clients may set; with
    `group`, only that group's: mask, detect, encode, limits)."""
    out = [spec for g, cls in _GROUPS.items() for spec in _specs_of(cls, g) if g == (group or g)]
    return [s for s in out if s.service] if service else out
