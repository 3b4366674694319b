"""What a file carries before veil cleans it: its format, size and metadata with values, and
what veil would write instead. For a person looking at their own file (`veil inspect`); the
service never offers it, and reports keep to tag names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import formats
from ..errors import InputError, one_file
from ..media.files import check_regular
from ..media.image import decode_image, output_format
from ..media.metadata import video_metadata_entries
from ..media.video import probe_video
from ..options import Options
from .photo import read_input


@dataclass
class Inspection:
    """One file: what it is, the metadata in it, and what veil would write instead."""

    input: str
    kind: str  # image | video
    format: str
    width: int
    height: int
    metadata: list[tuple[str, str]]  # (name, value as short text); all of it is removed
    written_as: str
    changes: list[str] = field(default_factory=list)  # what else veil changes, in words

    def to_json(self) -> dict[str, object]:
        return {
            "input": self.input, "kind": self.kind, "format": self.format,
            "width": self.width, "height": self.height,
            "metadata": [{"name": n, "value": v} for n, v in self.metadata],
            "written_as": self.written_as, "changes": self.changes,
        }


@one_file
def inspect_file(src: Path, options: Options | None = None) -> Inspection:
    """Read `src` as anonymizing would (same format table, same limits) and list its
    metadata; InputError with one line when veil would not read it."""
    options = options or Options()
    src = Path(src)
    check_regular(src)
    try:
        with open(src, "rb") as fh:
            sniffed = formats.sniff(fh.read(formats.HEAD_BYTES))
    except IsADirectoryError as exc:
        raise InputError("is a directory") from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from exc
    if sniffed is None:
        raise InputError(f"not a file veil reads: it takes {formats.accepted()}")
    if sniffed.kind == "video":
        info = probe_video(src, options.limits)
        changes = [f"the {info.rotation}-degree rotation tag is baked into the pixels"] * bool(
            info.rotation) + [f"{name} is not written" for name in info.dropped_streams]
        return Inspection(src.name, "video", sniffed.name, info.width, info.height,
                          video_metadata_entries(src), sniffed.written_as, changes)
    data = read_input(src)
    decoded = decode_image(data, options.limits)
    height, width = decoded.pixels.shape[:2]
    written = output_format(decoded.format, options.encode.format)
    return Inspection(src.name, "image", decoded.format.name, width, height,
                      decoded.metadata, written.name, list(decoded.notes))

