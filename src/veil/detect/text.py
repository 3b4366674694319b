"""Where legible text is (licence plates, name tags, placards, screens), found by the PP-OCRv6
text detector that the `rapidocr` wheel ships, and which of those lines are licence plates,
decided by reading them with the recogniser in the same wheel.

Only the two ONNX graphs are loaded from the installed package (checked against the
checksums below): rapidocr's own pipeline, its other dependencies and its fallback that
downloads a missing model are never used. What a line says is used once, inside
find_text, to decide whether it is a plate (or, with --cover pii, personal data:
detect/personal.py), and then dropped: it is never returned from there, logged or written
anywhere.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import SetupError
from .base import Detections, input_blob
from .personal import is_label, looks_personal
from .runtime import make_session

# rapidocr 3.10's files, by SHA-256: another version's weights are refused, not guessed at.
DETECTOR_FILE = "PP-OCRv6_det_small.onnx"
READER_FILE = "PP-OCRv6_rec_small.onnx"
CHECKSUMS = {
    DETECTOR_FILE: "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
    READER_FILE: "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
}
# The detector's post-processing, as PaddleOCR and rapidocr set it (DB: a probability map,
# thresholded; a line's box grown by area * UNCLIP / perimeter).
PIXEL_THRESHOLD, BOX_THRESHOLD, UNCLIP = 0.3, 0.5, 1.6
STRIDE = 32
# Lines are seen with the photo's long side at most VIEW px; photos over TILE_FROM px are
# seen again CLOSER times nearer (at most at full size), in tiles of VIEW px, so a plate in
# a 12 MP photo is not a smudge.
VIEW, TILE_OVERLAP = 640, 64
# --cover text also looks from further away: big turned lines that the 640 px view finds
# only in part are found whole (lines 12 px and up: 93.9% covered with one view; both:
# docs/benchmarks.md).
WIDE_VIEW = 480
TILE_FROM, CLOSER = 1600, 2.5
# Video frames are seen once each, with the long side at this many px and no tiles: at
# 1080p the text detector at 960x544 costs a quarter of the 640 px view and its six closer
# tiles (101 ms against 463 on the 2-core machine), and it is looked at on every 4th frame
# (ScheduleOptions.text_every; docs/benchmarks.md, plates in video).
VIDEO_VIEW = 960
# The detector's boxes hug the characters; a plate's frame reaches further. Each line is
# grown by these shares of its height (measured on plates-dev: docs/benchmarks.md).
PAD_X, PAD_Y = 0.4, 0.3
# Boxes on one line (overlapping by half their height, heights within 2x) closer than this
# many heights are one line.
LINE_GAP = 1.0
READ_HEIGHT = 48  # the recogniser's input height
# A line found is a row: its upright box (x1, y1, x2, y2), score, thickness, and the line as
# it lies (centre x, centre y, length, angle of its length in degrees).
COLUMNS = 10
# A line turned more than this is covered by small boxes along it, each about PIECE
# thicknesses long, not by its upright box.
TURNED_DEGREES, PIECE = 8.0, 1.5


def model_path(name: str) -> Path:
    """One of rapidocr's ONNX files, found without importing rapidocr, checked by checksum."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise SetupError("no text detector: install the 'rapidocr' package (pip install "
                         "'rapidocr==3.10.0'), or leave plates and text out of --cover")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise SetupError(f"the text model {name} is missing from the rapidocr package") from exc
    if digest != CHECKSUMS[name]:
        raise SetupError(f"the text model {name} is not the one veil was checked with "
                         "(install rapidocr 3.10.0)")
    return path


@dataclass
class TextLine:
    """A line of text: its upright box (grown to hold the whole line), the detector's score,
    and the boxes that cover it: the box itself, or for a turned line a run of small boxes
    along it (its upright box would cover far more than the line)."""

    box: tuple[float, float, float, float]
    score: float
    pieces: list[tuple[float, float, float, float]]
    # The line as it lies (centre x, centre y, length, thickness, angle of its length in
    # degrees), for reading a turned line straightened.
    lies: tuple[float, float, float, float, float]


class TextDetector:
    """Lines of legible text in an RGB image: boxes grown past the characters, merged along
    a line. Never what the text says."""

    name = "ppocr-text"

    def __init__(self, threads: int = 0, backend: str = "auto", device: str = "cpu") -> None:
        self.session = make_session(model_path(DETECTOR_FILE).read_bytes(), threads, backend,
                                    device)
        self.input = "x"

    def lines(self, image: np.ndarray, wider: bool = False, view: int = VIEW,
              tiles: bool = True) -> list[TextLine]:
        """Every line, padded and merged; seen with the long side at `view` px; `wider`
        looks at the whole photo from further away too (big lines, turned, that the closer
        view sees only in part); `tiles`: a large photo again, closer, in tiles."""
        height, width = image.shape[:2]
        whole = min(1.0, view / max(height, width))
        boxes = [self._view(image, whole)]
        if wider:
            boxes.append(self._view(image, min(1.0, WIDE_VIEW / max(height, width))))
        if tiles and max(height, width) > TILE_FROM:  # again, closer, in tiles
            closer = min(1.0, CLOSER * whole)
            seen = _resized(image, closer)
            for y in _starts(seen.shape[0]):
                for x in _starts(seen.shape[1]):
                    tile = np.ascontiguousarray(seen[y:y + VIEW, x:x + VIEW])
                    found = self._view(tile, 1.0)
                    found[:, [0, 2, 6]] += x
                    found[:, [1, 3, 7]] += y
                    found[:, [0, 1, 2, 3, 5, 6, 7, 8]] /= closer
                    boxes.append(found)
        merged = merge_lines(np.concatenate(boxes), LINE_GAP)
        return [TextLine(_padded(row, width, height), float(row[4]),
                         _pieces(row, width, height),
                         (float(row[6]), float(row[7]), float(row[8]), float(row[5]),
                          float(row[9])))
                for row in merged]

    def detect(self, image: np.ndarray) -> Detections:
        found = self.lines(image)
        return Detections.of(np.array([t.box for t in found], np.float32),
                             np.array([t.score for t in found], np.float32), self.name)

    def _view(self, image: np.ndarray, scale: float) -> np.ndarray:
        """Lines seen at `scale`, in image pixels (rows: see COLUMNS)."""
        import cv2

        height, width = image.shape[:2]
        h = max(STRIDE, round(height * scale / STRIDE) * STRIDE)
        w = max(STRIDE, round(width * scale / STRIDE) * STRIDE)
        shrink = cv2.INTER_AREA if w < width else cv2.INTER_LINEAR
        seen = cv2.resize(image[..., ::-1], (w, h), interpolation=shrink)  # BGR, as trained
        prob = self.session.run(None, {self.input: _scaled(input_blob(seen))})[0][0, 0]
        found = _boxes(prob)
        found[:, [0, 2, 6]] *= width / w
        found[:, [1, 3, 7]] *= height / h
        found[:, [5, 8]] *= (width / w + height / h) / 2
        return found


def _scaled(blob: np.ndarray) -> np.ndarray:
    """Pixels 0 to 255 as PaddleOCR's models take them, -1 to 1 (in place)."""
    blob /= 127.5
    blob -= 1.0
    return blob


def _resized(image: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    if scale >= 1.0:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _starts(length: int) -> list[int]:
    """Tile origins covering `length` with VIEW-px tiles overlapping by TILE_OVERLAP."""
    if length <= VIEW:
        return [0]
    step = VIEW - TILE_OVERLAP
    starts = list(range(0, length - VIEW, step))
    return [*starts, length - VIEW]


def _boxes(prob: np.ndarray) -> np.ndarray:
    """DB post-processing: connected regions over the pixel threshold, scored by their mean
    probability, each grown by UNCLIP; one row each (see COLUMNS)."""
    import cv2

    mask = cv2.dilate((prob > PIXEL_THRESHOLD).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    rows = []
    for contour in contours[:1000]:
        x, y, w, h = cv2.boundingRect(contour)
        if min(w, h) < 3:
            continue
        inside = np.zeros((h, w), np.uint8)
        cv2.fillPoly(inside, [contour - [x, y]], 1)
        score = float(prob[y:y + h, x:x + w][inside > 0].mean())
        if score < BOX_THRESHOLD:
            continue
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
        grow = rw * rh * UNCLIP / max(2 * (rw + rh), 1e-6)
        corners = cv2.boxPoints(((cx, cy), (rw + 2 * grow, rh + 2 * grow), angle))
        # The line as it lies: its thickness and length, and the angle of its length.
        if rw < rh:
            rw, rh, angle = rh, rw, angle + 90
        rows.append([*corners.min(axis=0), *corners.max(axis=0), score, rh + 2 * grow,
                     cx, cy, rw + 2 * grow, angle])
    return np.array(rows, np.float32).reshape(-1, COLUMNS)


def merge_lines(rows: np.ndarray, gap: float) -> np.ndarray:
    """Upright lines (rows: see COLUMNS) that overlap, or lie on one line closer than `gap`
    heights, as one (the best score and the thickest kept): a plate's characters, a name on
    a tag. Turned lines are left as they are."""
    boxes = [list(map(float, row)) for row in rows]
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if not _turned(boxes[i]) and not _turned(boxes[j]) and _one_line(
                        boxes[i], boxes[j], gap):
                    a, b = boxes[i], boxes.pop(j)
                    x1, y1 = min(a[0], b[0]), min(a[1], b[1])
                    x2, y2 = max(a[2], b[2]), max(a[3], b[3])
                    boxes[i] = [x1, y1, x2, y2, max(a[4], b[4]), max(a[5], b[5]),
                                (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, 0.0]
                    merged = True
                    break
            if merged:
                break
    return np.array(boxes, np.float32).reshape(-1, COLUMNS)


def _one_line(a: list[float], b: list[float], gap: float) -> bool:
    """Two boxes of one line of text (or one box seen twice, by two views)."""
    ha, hb = a[3] - a[1], b[3] - b[1]
    overlap_y = min(a[3], b[3]) - max(a[1], b[1])
    apart_x = max(a[0], b[0]) - min(a[2], b[2])
    if apart_x < 0 and overlap_y > 0:  # mostly one inside the other: the same text
        smaller = min(ha * (a[2] - a[0]), hb * (b[2] - b[0]))
        if -apart_x * overlap_y >= 0.6 * smaller:
            return True
    return (overlap_y >= 0.5 * min(ha, hb) and max(ha, hb) <= 2 * min(ha, hb)
            and apart_x <= gap * max(ha, hb))


def _turned(row: list[float] | np.ndarray) -> bool:
    return _turned_by(float(row[9]))


def _turned_by(angle: float) -> bool:
    off = abs(angle) % 180
    return min(off, 180 - off) > TURNED_DEGREES


def _pieces(row: np.ndarray, width: int, height: int) -> list[tuple[float, float, float, float]]:
    """The boxes that cover a line: its padded upright box, or for a turned line, the upright
    boxes of short stretches of it (each padded as the line is)."""
    if not _turned(row):
        return [_padded(row, width, height)]
    thickness = float(row[5])
    along = float(row[8]) + 2 * PAD_X * thickness
    across = thickness * (1 + 2 * PAD_Y)
    angle = np.deg2rad(float(row[9]))
    u = np.array([np.cos(angle), np.sin(angle)])
    n = np.array([-u[1], u[0]])
    count = max(1, int(np.ceil(along / (PIECE * thickness))))
    step = along / count
    centre = np.array([float(row[6]), float(row[7])])
    pieces = []
    for k in range(count):
        mid = centre + u * (-along / 2 + (k + 0.5) * step)
        corners = np.array([mid + a * u * step / 2 + b * n * across / 2
                            for a in (-1, 1) for b in (-1, 1)])
        x1, y1 = corners.min(axis=0)
        x2, y2 = corners.max(axis=0)
        pieces.append((max(0.0, float(x1)), max(0.0, float(y1)), min(float(width), float(x2)),
                       min(float(height), float(y2))))
    return pieces


def _padded(row: np.ndarray, width: int, height: int) -> tuple[float, float, float, float]:
    """A line's box grown by shares of its thickness (not of its upright box's height, which
    a turned line makes far larger)."""
    x1, y1, x2, y2 = (float(v) for v in row[:4])
    h = float(row[5])
    return (max(0.0, x1 - PAD_X * h), max(0.0, y1 - PAD_Y * h),
            min(float(width), x2 + PAD_X * h), min(float(height), y2 + PAD_Y * h))


class TextReader:
    """Reads a line of text, only to decide what kind of line it is (is_plate, and with
    --cover pii personal.looks_personal)."""

    def __init__(self, threads: int = 0, backend: str = "auto") -> None:
        path = model_path(READER_FILE)
        self.session = make_session(path.read_bytes(), threads, backend)
        self.alphabet = _alphabet(str(path))

    def _read_box(self, image: np.ndarray, box: tuple[float, float, float, float]
                  ) -> tuple[str, float]:
        import cv2

        x1, y1, x2, y2 = (int(round(v)) for v in box)
        crop = image[max(0, y1):y2, max(0, x1):x2]
        if crop.size == 0:
            return "", 0.0
        width = max(8, min(1600, round(crop.shape[1] * READ_HEIGHT / crop.shape[0])))
        return self._recognise(cv2.resize(crop, (width, READ_HEIGHT),
                                          interpolation=cv2.INTER_LINEAR))

    def read_line(self, image: np.ndarray, line: TextLine, straighten: bool = True
                  ) -> tuple[str, float]:
        """What a line says, and how sure the reader is of it (0 to 1); a turned line is
        straightened first (read in its upright box, its letters would be cut and other
        lines would come in) unless `straighten` is False (plates were measured so)."""
        import cv2

        cx, cy, length, thickness, angle = line.lies
        if not straighten or not _turned_by(angle) or thickness <= 0:
            return self._read_box(image, line.box)
        u = np.array([np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))])
        u = -u if u[0] < 0 else u  # read left to right
        n = np.array([-u[1], u[0]])  # down the letters
        centre = np.array([cx, cy])
        width = max(8, min(1600, round(length * READ_HEIGHT / thickness)))
        corners = [centre + (-u * length - n * thickness) / 2,
                   centre + (u * length - n * thickness) / 2,
                   centre + (-u * length + n * thickness) / 2]
        warp = cv2.getAffineTransform(
            np.array(corners, np.float32),
            np.array([[0, 0], [width, 0], [0, READ_HEIGHT]], np.float32))
        return self._recognise(cv2.warpAffine(image, warp, (width, READ_HEIGHT),
                                              flags=cv2.INTER_LINEAR,
                                              borderMode=cv2.BORDER_REPLICATE))

    def _recognise(self, seen: np.ndarray) -> tuple[str, float]:
        """CTC greedy decoding of a line READ_HEIGHT px tall (RGB): the characters, and how
        sure the reader was of them (their mean probability)."""
        scores = self.session.run(None, {"x": _scaled(input_blob(seen, bgr=True))})[0][0]
        best = scores.argmax(axis=1)
        kept = [k for k, i in enumerate(best)
                if i and (k == 0 or i != best[k - 1]) and i - 1 < len(self.alphabet)]
        sure = float(scores.max(axis=1)[kept].mean()) if kept else 0.0
        return "".join(self.alphabet[best[k] - 1] for k in kept), sure


@lru_cache(maxsize=2)
def _alphabet(path: str) -> list[str]:
    """The recogniser's characters, from the graph's own metadata (index 0 is CTC's blank)."""
    import onnx

    model = onnx.load(path, load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == "character":
            return [*prop.value.splitlines(), " "]
    raise SetupError("the text recogniser carries no alphabet")


# A plate reads as one short run of capitals and digits: 4 to 10 of them once separators
# and whatever the reader made of a badge or a sticker are dropped (AB 123 CD, B-MW 1234,
# 7ABC123, vanity plates without digits), at most one lower-case letter (a misread), and
# nothing longer than a plate (a line of a sign or a caption). Short words in capitals
# pass too (POLICE, EXIT): covering one costs little, leaving a plate visible does not.
PLATE_CHARS = (4, 10)
PLATE_READ_MAX = 14


def is_plate(text: str) -> bool:
    """Whether a line read from a photo may be a licence plate."""
    compact = [c for c in text if c.isalnum()]
    lower = sum(c.isascii() and c.islower() for c in compact)
    low, high = PLATE_CHARS
    return low <= len(compact) <= high and lower <= 1 and len(text.strip()) <= PLATE_READ_MAX


# Lines too small to be read well, shaped like a plate, are taken for plates unread: a
# plate a reader cannot make out is still a plate.
READ_MIN_HEIGHT = 14
PLATE_ASPECT = (1.2, 8.0)  # width / height of a padded plate line


@dataclass
class FoundText:
    """A line to cover: where it is and what kind of line it is ("plate" or "text")."""

    box: tuple[float, float, float, float]
    score: float
    category: str


def find_text(image: np.ndarray, detector: TextDetector, reader: TextReader, plates: bool,
              text: str = "none", frame: bool = False) -> list[FoundText]:
    """The lines of text in an RGB image to cover: plates (with `plates`), and of the other
    lines every one (`text` "all"), those that read as personal data and the lines beside
    them ("pii"), or none ("none"). A `frame` of a video is seen once, at VIDEO_VIEW. What
    a line says is read here, used, and dropped."""
    lines = detector.lines(image, wider=text != "none", view=VIDEO_VIEW if frame else VIEW,
                           tiles=not frame)
    kinds = [_kind(image, line, reader, plates, text) for line in lines]
    if text == "pii":
        kinds = _beside_personal(lines, kinds)
    return [FoundText(box, line.score, kind) for line, kind in zip(lines, kinds, strict=True)
            if kind is not None for box in line.pieces]


def _kind(image: np.ndarray, line: TextLine, reader: TextReader, plates: bool, text: str
          ) -> str | None:
    """"plate", "text" (a line to cover that is not a plate), "personal" (a line that reads
    as personal data), "label" (one that labels personal data) or None (a line to leave)."""
    x1, y1, x2, y2 = line.box
    small = y2 - y1 < READ_MIN_HEIGHT  # too small to read: taken for what it may be
    plate_shaped = PLATE_ASPECT[0] <= (x2 - x1) / max(y2 - y1, 1e-6) <= PLATE_ASPECT[1]
    upright = None  # the line read in its upright box, for the plate rule
    if plates and plate_shaped:
        if small:
            return "plate"
        upright = reader.read_line(image, line, straighten=False)
        if is_plate(upright[0]):
            return "plate"
    if text == "all":
        return "text"
    if text == "pii":
        if small:
            return "personal"
        # An upright line reads the same either way: read once.
        said, sure = (upright if upright is not None and not _turned_by(line.lies[4])
                      else reader.read_line(image, line))
        return ("label" if is_label(said) else "personal" if looks_personal(said, sure)
                else None)
    return None


def _beside_personal(lines: list[TextLine], kinds: list[str | None]) -> list[str | None]:
    """Lines of personal data make the rest of their line covered too (a name the detector
    found in pieces), and a label (Name, Tel, STAFF) also the lines next to it (a name tag's
    name under "HELLO my name is", a document's fields); so on, from each line so covered."""
    cover = [kind in ("personal", "label") for kind in kinds]
    todo = [i for i, c in enumerate(cover) if c]
    while todo:
        i = todo.pop()
        for j, line in enumerate(lines):
            if not cover[j] and (_one_text_line(lines[i], line) or (
                    kinds[i] == "label" and _next_line(lines[i], line))):
                cover[j] = True
                todo.append(j)
    return [kind if kind == "plate" else "text" if c else None
            for kind, c in zip(kinds, cover, strict=True)]


NEIGHBOUR = 2.5  # lines of one item: thicknesses within this many times
ALONG = 10.0  # pieces of one line: angles within this many degrees


def _one_text_line(a: TextLine, b: TextLine) -> bool:
    """Two pieces of one line: as thick (within 1.5x), as turned, one on the other's axis
    (within a quarter of a thickness: the next line of a placard is further) and at most a
    thickness beyond its end."""
    thick = max(a.lies[3], b.lies[3])
    if thick > 1.5 * min(a.lies[3], b.lies[3]):
        return False
    across, beyond = _apart(a, b)
    return across <= thick / 4 and beyond <= thick


def _next_line(a: TextLine, b: TextLine) -> bool:
    """`b` on `a`'s line or the line before or after it: as turned, thicknesses within
    NEIGHBOUR times, no further across than their two thicknesses, and side by side along
    (a name tag's "HELLO my name is" and the name under it)."""
    if max(a.lies[3], b.lies[3]) > NEIGHBOUR * min(a.lies[3], b.lies[3]):
        return False
    across, beyond = _apart(a, b)
    return across <= a.lies[3] + b.lies[3] and beyond <= 0


def _apart(a: TextLine, b: TextLine) -> tuple[float, float]:
    """How far `b`'s centre lies across `a`'s axis, and how far past each other's ends the
    two lines reach along it (negative: they overlap); inf if they are not as turned."""
    (ax, ay, al, _, aa), (bx, by, bl, _, ba) = a.lies, b.lies
    if abs((aa - ba + 90) % 180 - 90) > ALONG:
        return float("inf"), float("inf")
    ux, uy = np.cos(np.deg2rad(aa)), np.sin(np.deg2rad(aa))
    dx, dy = bx - ax, by - ay
    return float(abs(ux * dy - uy * dx)), float(abs(ux * dx + uy * dy) - (al + bl) / 2)
