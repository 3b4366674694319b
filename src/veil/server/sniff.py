"""Tell a photo from a video from anything else by the first bytes, never by the file name."""

from __future__ import annotations

from dataclasses import dataclass

# ISO base media (MP4, MOV, HEIF, AVIF) major brands, by what veil does with them.
_HEIF_BRANDS = {
    b"heic",
    b"heix",
    b"heim",
    b"heis",
    b"hevc",
    b"hevx",
    b"mif1",
    b"msf1",
    b"avif",
    b"avis",
}
_MOV_BRANDS = {b"qt  "}

HEAD_BYTES = 64

SUPPORTED = (
    "photos (JPEG, PNG, WebP, TIFF, HEIC, AVIF, GIF, BMP) and videos (MP4, MOV, MKV, WebM, AVI)"
)


@dataclass(frozen=True)
class Sniffed:
    kind: str  # image | video
    format: str  # what the bytes say: JPEG, PNG, MP4...


def sniff(head: bytes) -> Sniffed | None:
    """The media kind and format of a file from its first HEAD_BYTES bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "JPEG")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "PNG")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "WEBP")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed("video", "AVI")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Sniffed("image", "TIFF")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("image", "GIF")
    if head[:2] == b"BM" and len(head) >= 14:
        return Sniffed("image", "BMP")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("video", "WEBM" if b"webm" in head else "MKV")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return Sniffed("image", "AVIF" if brand.startswith(b"avi") else "HEIF")
        return Sniffed("video", "MOV" if brand in _MOV_BRANDS else "MP4")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):  # old QuickTime files have no ftyp
        return Sniffed("video", "MOV")
    return None
