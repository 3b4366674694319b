"""Formats, orientation, transparency and metadata removal, checked with exiftool."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

import veil
from conftest import identifying_tags, run_veil, shared, tagged_jpeg


def _example_pixels(example_jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))


@pytest.mark.parametrize(
    "name", ["dirty.jpg", "dirty.png", "dirty.webp", "dirty.tiff", "dirty.heic", "dirty.avif",
             "dirty.jxl"]
)
def test_metadata_fixtures_come_out_clean(tmp_path: Path, name: str) -> None:
    src = shared(f"metadata/{name}")
    assert identifying_tags(src), "fixture should carry metadata"
    res = run_veil(src, "-o", str(tmp_path / "out") + "/", "-q", "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    outs = list((tmp_path / "out").iterdir())
    assert len(outs) == 1
    assert identifying_tags(outs[0]) == []


def test_jpeg_xl_photos_are_covered_as_the_same_pixels_in_png_are(
        tmp_path: Path, example_jpeg: bytes) -> None:
    """A bare codestream and the ISO container, lossless: the plan is the PNG's, the output
    a JPEG (the decoder's plugin keeps the EXIF, XMP and ICC it reads out of the output)."""
    import pillow_jxl  # noqa: F401 - registers the plugin (veil imports it too)

    pixels = _example_pixels(example_jpeg)
    Image.fromarray(pixels).save(tmp_path / "same.png")
    for name, container in (("bare.jxl", False), ("boxed.jxl", True)):
        Image.fromarray(pixels).save(tmp_path / name, "JXL", lossless=True,
                                     use_container=container)
    res = run_veil(*(tmp_path / n for n in ("same.png", "bare.jxl", "boxed.jxl")), "-q",
                   "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    import json

    files = {f["input"]: f for f in json.loads((tmp_path / "r.json").read_text())["files"]}
    assert files["bare.jxl"]["masks"] == files["same.png"]["masks"] != []
    assert files["boxed.jxl"]["masks"] == files["same.png"]["masks"]
    assert "written as JPEG (input was JXL)" in files["boxed.jxl"]["warnings"]
    for name in ("bare.veiled.jpg", "boxed.veiled.jpg"):
        assert Image.open(tmp_path / name).format == "JPEG"


def test_float_samples_from_0_to_1_are_read_as_the_picture_not_as_black(
        tmp_path: Path, example_jpeg: bytes) -> None:
    """A greyscale float JPEG XL (HDR tools write them) or TIFF holds samples from 0 to 1:
    they came out black, faces and all, and the detectors saw nothing. Now they give the
    8-bit picture's plan and pixels."""
    import json

    import pillow_jxl  # noqa: F401

    grey = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("L"))
    Image.fromarray(grey).save(tmp_path / "grey.png")
    floats = grey.astype(np.float32) / 255
    Image.fromarray(floats, mode="F").save(tmp_path / "float.tif")
    # The plugin tags float samples as linear light (its grey profile says so), and veil
    # converts them to sRGB before they become 8 bits: stored linear, they come back as the
    # PNG's values.
    linear = np.where(floats <= 0.04045, floats / 12.92, ((floats + 0.055) / 1.055) ** 2.4)
    Image.fromarray(linear.astype(np.float32), mode="F").save(tmp_path / "float.jxl", "JXL",
                                                              lossless=True)
    res = run_veil(*(tmp_path / n for n in ("grey.png", "float.jxl", "float.tif")), "-q",
                   "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    files = {f["input"]: f for f in json.loads((tmp_path / "r.json").read_text())["files"]}
    for name in ("float.jxl", "float.tif"):
        assert files[name]["masks"] == files["grey.png"]["masks"] != [], name
        assert "reduced floating-point samples to 8 bits" in files[name]["warnings"]
    png = np.asarray(Image.open(tmp_path / "grey.veiled.png").convert("L")).astype(int)
    tif = np.asarray(Image.open(tmp_path / "float.veiled.tif").convert("L")).astype(int)
    assert np.abs(png - tif).max() <= 1


def test_a_grey_photos_grey_profile_is_applied_not_ignored(tmp_path: Path) -> None:
    """A grey ICC profile (every greyscale JPEG XL has one, as do many black-and-white
    JPEGs) was applied after the pixels became RGB, failed, and the report said the profile
    was unreadable. It converts the grey pixels themselves now."""
    import json

    import pillow_jxl  # noqa: F401 - a grey JPEG XL gives libjxl's grey, sRGB-curve profile

    ramp = np.tile(np.linspace(0, 255, 256).astype(np.uint8), (64, 1))
    grey_jxl = io.BytesIO()
    Image.fromarray(ramp).save(grey_jxl, "JXL", lossless=True)
    profile = Image.open(grey_jxl).info["icc_profile"]
    Image.fromarray(ramp).save(tmp_path / "grey.jpg", quality=100, icc_profile=profile)
    res = run_veil(tmp_path / "grey.jpg", "-q", "--report", tmp_path / "r.json", "--no-audit")
    assert res.returncode == 0, res.stderr
    warnings = json.loads((tmp_path / "r.json").read_text())["files"][0]["warnings"]
    assert "converted colours from the embedded ICC profile to sRGB" in warnings, warnings
    out = np.asarray(Image.open(tmp_path / "grey.veiled.jpg").convert("RGB")).astype(int)
    assert np.abs(out - ramp[..., None]).mean() < 2  # grey with sRGB's curve: as it was
    # A grey photo carrying an RGB profile (LittleCMS's sRGB renamed, so it is not skipped
    # as sRGB) is converted as RGB, as before grey profiles were converted as grey.
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    renamed = srgb.replace("sRGB".encode("utf-16-be"), "wRGB".encode("utf-16-be"))
    Image.fromarray(ramp).save(tmp_path / "grey.jpg", quality=100, icc_profile=renamed)
    res = run_veil(tmp_path / "grey.jpg", "-q", "--report", tmp_path / "r.json", "--no-audit",
                   "--overwrite")
    assert res.returncode == 0, res.stderr
    warnings = json.loads((tmp_path / "r.json").read_text())["files"][0]["warnings"]
    assert "converted colours from the embedded ICC profile to sRGB" in warnings, warnings


def test_a_camera_raw_file_is_refused_not_written_as_its_preview(
        tmp_path: Path, example_jpeg: bytes) -> None:
    """A DNG (Apple ProRAW, most raw cameras' own or converted files) or a NEF is a TIFF
    whose first image is a small preview: `veil photo.dng` wrote that preview as the photo.
    (In a folder they are skipped by name.)"""
    from PIL import TiffImagePlugin

    preview = Image.open(io.BytesIO(example_jpeg)).convert("RGB").resize((160, 100))
    for name, tag, value, kind in (("pro.dng", 50706, b"\x01\x06\x00\x00", 1),
                                   ("camera.nef", 254, 1, 4)):
        info = TiffImagePlugin.ImageFileDirectory_v2()
        info[tag] = value
        info.tagtype[tag] = kind
        preview.save(tmp_path / name, "TIFF", tiffinfo=info)
        res = run_veil(tmp_path / name, "-o", tmp_path / "out.tif")
        assert res.returncode == 1, res.stderr
        assert "a camera" in res.stderr and "would read only its small preview" in res.stderr
        assert not (tmp_path / "out.tif").exists()
    preview.save(tmp_path / "scan.tif")  # a TIFF of its own: written
    assert run_veil(tmp_path / "scan.tif", "-o", tmp_path / "out.tif").returncode == 0


def test_a_motion_photos_video_is_named_and_not_written(
        tmp_path: Path, example_jpeg: bytes, example_clip: Path) -> None:
    """A motion photo (Google's, Samsung's) is a JPEG with the seconds around the shot
    appended as an MP4, faces and all, which Pillow does not see. The output never held it
    (pixels only); now `veil inspect` and the report say it was there."""
    import json

    photo = tmp_path / "PXL_0001.MP.jpg"
    photo.write_bytes(example_jpeg + example_clip.read_bytes())
    res = run_veil("inspect", photo)
    assert res.returncode == 0 and "Motion photo video: (" in res.stdout, res.stdout
    res = run_veil(photo, "-q", "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "r.json").read_text())["files"][0]
    assert "Motion photo video" in report["metadata_removed"]
    written = (tmp_path / "PXL_0001.MP.veiled.jpg").read_bytes()
    assert b"ftyp" not in written and len(written) < len(example_jpeg) * 2


def test_the_further_images_of_an_mpo_are_named_and_not_written(
        tmp_path: Path, example_jpeg: bytes) -> None:
    """A JPEG with MPF images after the picture (a stereo camera's second view, a phone's
    depth map, which holds the shape of a face, or its HDR gain map): the output is the
    picture alone, and the report said nothing of what went."""
    import json

    portraits = Image.open(io.BytesIO(example_jpeg))
    depth = portraits.convert("L").resize((portraits.width // 4, portraits.height // 4))
    photo = tmp_path / "IMG_0001.jpg"
    portraits.save(photo, "MPO", save_all=True, append_images=[depth.convert("RGB")])
    res = run_veil(photo, "-q", "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "r.json").read_text())["files"][0]
    assert "MPF images after the picture" in report["metadata_removed"]
    written = Image.open(tmp_path / "IMG_0001.veiled.jpg")
    assert written.format == "JPEG" and getattr(written, "n_frames", 1) == 1
    assert written.size == portraits.size


# A 64x48 HEIC with a 16 px thumbnail beside it, made by libheif's heif-enc (-t 16).
HEIC_WITH_THUMBNAIL = (
    "AAAAKGZ0eXBoZWljAAAAAG1pZjFoZWljbWlhZm1pZjFoZWljbWlhZgAAAtttZXRhAAAAAAAAACFoZGxyAAAAAAAAAABw"
    "aWN0AAAAAAAAAAAAAAAAAAAAAA5waXRtAAAAAAACAAAAGGlkYXQAAAAAAEAAMAAAAAAAEAAMAAAAYGlsb2MBAAAAREAA"
    "BAABAAAAAAAAAwsAAQAAAAAAAAApAAIAAQAAAAAAAAABAAAAAAAAAAgAAwAAAAAAAAM0AAEAAAAAAAAALgAEAAEAAAAA"
    "AAAAAQAAAAgAAAAIAAAAYmlpbmYAAAAAAAQAAAAVaW5mZQIAAAEAAQAAaHZjMQAAAAAVaW5mZQIAAAAAAgAAZ3JpZAAA"
    "AAAVaW5mZQIAAAEAAwAAaHZjMQAAAAAVaW5mZQIAAAAABAAAZ3JpZAAAAAGQaXBycAAAAWRpcGNvAAAAdmh2Y0MBA3AA"
    "AAAAAAAAAAAe8AD8/fj4AAAPAyAAAQAYQAEMAf//A3AAAAMAkAAAAwAAAwAeugJAIQABACpCAQEDcAAAAwCQAAADAAAD"
    "AB6gIIEFlurkprm4EBAwIAAAAwAgAAADACEiAAEABkQBwXPAiQAAABRpc3BlAAAAAAAAAEAAAABAAAAAFGlzcGUAAAAA"
    "AAAAQAAAADAAAAAQcGl4aQAAAAADCAgIAAAAdmh2Y0MBA3AAAAAAAAAAAAAe8AD8/fj4AAAPAyAAAQAYQAEMAf//A3AA"
    "AAMAkAAAAwAAAwAeugJAIQABACpCAQEDcAAAAwCQAAADAAADAB6gIIEFluqumubgQEDAgAAAAwCAAAADAIQiAAEABkQB"
    "wXPBiQAAABRpc3BlAAAAAAAAAEAAAABAAAAAFGlzcGUAAAAAAAAAEAAAAAwAAAAQcGl4aQAAAAADCAgIAAAAJGlwbWEA"
    "AAAAAAAABAABAoECAAICA4QAAwKFBgAEAgeIAAAANmlyZWYAAAAAAAAADmRpbWcAAgABAAEAAAAOZGltZwAEAAEAAwAA"
    "AA50aG1iAAQAAQACAAAAX21kYXQAAAAlKAGvGYDuQPlodqw9OJNl0oaOZwe6rjqB2bA/PdLfpSgNAqmbtAAAACooAa8Z"
    "ITKW7iBM0UbbVUajsk7TQLwGco1LZG9nDstaxKv6avdAuK+L1cA=")


def test_images_beside_a_heif_picture_are_named(tmp_path: Path) -> None:
    """HEIF keeps other images beside the picture: a thumbnail, an iPhone portrait's depth
    map, an HDR gain map. The depth map went unlisted (its key was taken for structure),
    the thumbnail was listed by pillow-heif's key; the output holds none of them."""
    import base64
    import json

    photo = tmp_path / "IMG_0002.heic"
    photo.write_bytes(base64.b64decode("".join(HEIC_WITH_THUMBNAIL)))
    res = run_veil("inspect", photo)
    assert res.returncode == 0 and "  Thumbnail: 16" in res.stdout, res.stdout
    res = run_veil(photo, "-q", "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "r.json").read_text())["files"][0]["metadata_removed"] == [
        "Thumbnail"]
    assert "depth_images" not in veil.media.metadata.STRUCTURAL_INFO


def test_content_credentials_and_unknown_jpeg_segments_are_named(
        tmp_path: Path, example_jpeg: bytes) -> None:
    """C2PA content credentials (APP11, JUMBF: cameras and editors sign who made a photo
    and with what) and segments veil has no name for were dropped from outputs without a
    word; now `veil inspect` and the report name them."""
    import json
    import struct

    def segment(marker: int, body: bytes) -> bytes:
        return b"\xff" + bytes([marker]) + struct.pack(">H", len(body) + 2) + body

    credentials = b"JP\x00\x00\x00\x00\x00\x10jumb" + b"c2pa.signature: J. Doe, Leica M11"
    photo = tmp_path / "signed.jpg"
    photo.write_bytes(example_jpeg[:2] + segment(0xEB, credentials) + segment(0xE9, b"x" * 9)
                      + example_jpeg[2:])
    res = run_veil("inspect", photo)
    assert "APP11 (JUMBF: C2PA content credentials): (" in res.stdout, res.stdout
    assert "APP9: (" in res.stdout
    res = run_veil(photo, "-q", "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    removed = json.loads((tmp_path / "r.json").read_text())["files"][0]["metadata_removed"]
    assert {"APP11 (JUMBF: C2PA content credentials)", "APP9"} <= set(removed)
    assert b"J. Doe" not in (tmp_path / "signed.veiled.jpg").read_bytes()


def test_png_and_webp_chunks_pillow_skips_are_named(tmp_path: Path, example_jpeg: bytes) -> None:
    """A PNG's time of last change (tIME) and C2PA manifest (caBX), a WebP's C2PA chunk:
    Pillow reads none of them, so they were dropped from outputs without a word."""
    import struct
    import zlib

    def png_chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    pixels = Image.open(io.BytesIO(example_jpeg)).convert("RGB")
    png, webp = io.BytesIO(), io.BytesIO()
    pixels.save(png, "PNG")
    pixels.save(webp, "WEBP")
    end = png.getvalue().rfind(b"IEND") - 4
    (tmp_path / "a.png").write_bytes(
        png.getvalue()[:end] + png_chunk(b"tIME", struct.pack(">HBBBBB", 2026, 12, 7, 9, 0, 0))
        + png_chunk(b"caBX", b"c2pa: J. Doe") + png.getvalue()[end:])
    body = webp.getvalue()[12:] + b"C2PA" + struct.pack("<I", 12) + b"c2pa: J. Doe"
    (tmp_path / "b.webp").write_bytes(b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body)
    res = run_veil("inspect", tmp_path / "a.png", tmp_path / "b.webp")
    assert res.returncode == 0, res.stderr
    for name in ("PNG tIME (when the file was last changed): (7 bytes)",
                 "C2PA content credentials (caBX): (12 bytes)",
                 "C2PA content credentials: (12 bytes)"):
        assert name in res.stdout, res.stdout
    res = run_veil(tmp_path / "a.png", tmp_path / "b.webp", "-q")
    assert res.returncode == 0, res.stderr
    for out in ("a.veiled.png", "b.veiled.webp"):
        assert b"J. Doe" not in (tmp_path / out).read_bytes()
        assert identifying_tags(tmp_path / out) == []


def test_a_preview_is_a_jpeg_at_most_2560_px_a_side(example_jpeg: bytes) -> None:
    """veil.preview_image, which the review page shows a TIFF result through: upright,
    scaled down only, transparency on white, no metadata."""
    wide = np.zeros((1000, 3000, 4), np.uint8)
    wide[..., 3] = 255
    wide[:, :1500, :3] = 200
    wide[:, -100:, 3] = 0  # transparent: shown as white
    buf = io.BytesIO()
    Image.fromarray(wide).save(buf, "PNG")
    shown = Image.open(io.BytesIO(veil.preview_image(buf.getvalue())))
    assert shown.format == "JPEG" and shown.size == (2560, 853)
    pixels = np.asarray(shown.convert("RGB")).astype(int)
    assert pixels[:, :1200].mean() > 190 and pixels[:, 1400:2400].mean() < 10
    assert pixels[:, -60:].mean() > 245
    small = Image.open(io.BytesIO(veil.preview_image(example_jpeg)))
    assert small.size == Image.open(io.BytesIO(example_jpeg)).size
    assert not small.getexif() and "icc_profile" not in small.info


def test_jpeg_xl_header_gives_the_decoders_size(tmp_path: Path) -> None:
    """veil reads a JPEG XL file's size from its header before the plugin decodes it (the
    plugin decodes every pixel on open): each way the header can write a size."""
    import pillow_jxl  # noqa: F401

    from veil.media.jxl import read_header

    # 8-multiples (the short form), each aspect-ratio code, each of the four field widths
    sizes = [(8, 8), (16, 8), (96, 64), (120, 120), (144, 120), (160, 120), (180, 120),
             (192, 108), (150, 120), (240, 120), (513, 1), (1, 600), (9000, 2), (2, 8193),
             (270_000, 1)]
    for index, (width, height) in enumerate(sizes):
        container = index % 2 == 1
        buf = io.BytesIO()
        Image.new("RGB", (width, height), (9, 9, 9)).save(buf, "JXL", use_container=container,
                                                          effort=1)
        header = read_header(buf.getvalue())
        with Image.open(buf) as decoded:
            assert (header.width, header.height) == decoded.size == (width, height)
        assert not header.animated


# An animation of four frames, made by cjxl 0.7 from a GIF: the plugin decodes the last alone.
ANIMATED_JXL = (
    "/wodsCAAC4pLAggIoAIAAKwASxiLFQDUuxvjxrh7AREA9tWPDAAl/QeQAARI0A1IJGEWlEHmaPhtDGudDAgIoAIAANQ"
    "ASygl1mFXUDABeEG9uzHGuHEvIAMA4JwBACApriFmSEQMkY+F/dKovxYNF2t6AHcpQ1yC2gEICKACAADcAEsoJdZhV1"
    "AQAPXuxhg37l5ABgAAcvoCQAK4A8DosYFAVdT9NoD0Nazl/qpdApZJ5DQP/lhzdwEICKBCAADwAEs4aZjKg/crKAiAe"
    "ndjjHF3LyADACAVGAAAORpbiOWjGggCJBvdSDI1ASkyQRb8yS1sP2r3vysvogBPBg=="
)


def test_jpeg_xl_refused_whole_animated_cut_or_too_large(tmp_path: Path) -> None:
    """What veil cannot cover whole gets no output and one line: an animation (veil would
    write one of its frames), a cut file, a size over --max-megapixels (read from the
    header, before the plugin decodes a pixel)."""
    import base64

    import pillow_jxl  # noqa: F401

    (tmp_path / "anim.jxl").write_bytes(base64.b64decode(ANIMATED_JXL))
    big = io.BytesIO()
    Image.new("RGB", (1200, 1000), (90, 90, 90)).save(big, "JXL", lossless=True, effort=1)
    (tmp_path / "big.jxl").write_bytes(big.getvalue())
    whole = io.BytesIO()
    Image.effect_noise((300, 200), 60).convert("RGB").save(whole, "JXL", quality=90)
    (tmp_path / "cut.jxl").write_bytes(whole.getvalue()[: len(whole.getvalue()) * 3 // 4])
    for name, why in (("anim.jxl", "animated JPEG XL: veil would keep only one frame"),
                      ("cut.jxl", "corrupt or truncated image"),
                      ("big.jxl", "image is 1200x1000 (1 MP), over the 1 MP limit")):
        res = run_veil(tmp_path / name, "-o", tmp_path / "out.jpg", "--max-megapixels", "1")
        assert res.returncode == 1, res.stderr
        assert why in res.stderr and len(res.stderr.strip().splitlines()) == 2, res.stderr
        assert not (tmp_path / "out.jpg").exists()


def test_jpeg_xl_metadata_is_listed_and_removed() -> None:
    """mat2's dirty.jxl: its EXIF, ICC profile and XMP box (which the plugin does not
    read) are listed by `veil inspect` and in the report."""
    res = run_veil("inspect", shared("metadata/dirty.jxl"))
    assert res.returncode == 0, res.stderr
    assert "EXIF:Artist: jvoisin" in res.stdout and "XMP: (2894 bytes)" in res.stdout
    assert "ICC profile" in res.stdout


def test_gps_and_serial_number_are_removed(tmp_path: Path, example_jpeg: bytes) -> None:
    src = tmp_path / "tagged.jpg"
    src.write_bytes(tagged_jpeg(_example_pixels(example_jpeg)))
    tags_in = identifying_tags(src)
    assert any("GPS" in t for t in tags_in) and any("SerialNumber" in t for t in tags_in)
    res = run_veil(src, "-q")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "tagged.veiled.jpg"
    assert identifying_tags(out) == []
    assert b"SERIAL-778899" not in out.read_bytes() and b"J. Doe" not in out.read_bytes()


@pytest.mark.parametrize(
    "fmt,ext", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("TIFF", ".tif")]
)
def test_format_is_kept(tmp_path: Path, example_jpeg: bytes, fmt: str, ext: str) -> None:
    src = tmp_path / f"in{ext}"
    Image.fromarray(_example_pixels(example_jpeg)).save(src, fmt)
    res = run_veil(src, "-q")
    assert res.returncode == 0, res.stderr
    out = tmp_path / f"in.veiled{ext}"
    assert Image.open(out).format == fmt
    assert identifying_tags(out) == []


def test_heic_becomes_jpeg_and_the_report_says_so(tmp_path: Path, example_jpeg: bytes) -> None:
    from pillow_heif import from_pillow

    src = tmp_path / "iphone.heic"
    heif = from_pillow(Image.fromarray(_example_pixels(example_jpeg)))
    heif.save(str(src), quality=90)
    res = run_veil(src, "-q", "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "iphone.veiled.jpg"
    assert Image.open(out).format == "JPEG"
    assert "written as JPEG (input was HEIF)" in (tmp_path / "r.json").read_text()


def test_jpeg_xl_ignores_its_exif_orientation_as_libjxl_does(tmp_path: Path) -> None:
    """A JPEG XL's orientation is its codestream's (libjxl applies it); an EXIF box's is
    ignored, as libjxl's djxl ignores it, so the output is what JPEG XL viewers show."""
    import pillow_jxl  # noqa: F401

    stored = np.zeros((60, 100, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)  # red strip on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "tagged.jxl", "JXL", exif=exif.tobytes(),
                                 lossless=True)
    res = run_veil(tmp_path / "tagged.jxl", "-q")
    assert res.returncode == 0, res.stderr
    out = np.asarray(Image.open(tmp_path / "tagged.veiled.jpg").convert("RGB"))
    assert out.shape[:2] == (60, 100)
    assert out[:, :15, 0].mean() > 200 and out[:, -15:, 0].mean() < 60


def test_exif_orientation_is_baked_into_pixels(tmp_path: Path) -> None:
    # A landscape image stored sideways with orientation 6 (rotate 90 CW to view).
    stored = np.zeros((60, 100, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)  # red strip on the stored left edge
    src = tmp_path / "rotated.jpg"
    src.write_bytes(tagged_jpeg(stored, orientation=6))
    res = run_veil(src, "-q")
    assert res.returncode == 0, res.stderr
    out = np.asarray(Image.open(tmp_path / "rotated.veiled.jpg").convert("RGB"))
    assert out.shape[:2] == (100, 60)  # upright: portrait
    assert out[:15, :, 0].mean() > 200 and out[-15:, :, 0].mean() < 60  # red now on top


def test_transparency_is_kept_and_hidden_colour_cleared(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    rgb = _example_pixels(example_jpeg)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, -50:] = 0  # transparent strip still storing colour
    src = tmp_path / "alpha.png"
    Image.fromarray(np.dstack([rgb, alpha])).save(src)
    res = run_veil(src, "-q")
    assert res.returncode == 0, res.stderr
    out = np.asarray(Image.open(tmp_path / "alpha.veiled.png"))
    assert out.shape[2] == 4
    assert (out[:, -50:, 3] == 0).all()
    assert (out[:, -50:, :3] == 0).all()


def test_non_srgb_icc_profile_is_converted_and_dropped(tmp_path: Path, example_jpeg: bytes) -> None:
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("XYZ"))
    src = tmp_path / "icc.jpg"
    Image.fromarray(_example_pixels(example_jpeg)).save(src, "JPEG", icc_profile=lab.tobytes())
    result = veil.anonymize_image(src.read_bytes())
    assert "icc_profile" not in Image.open(io.BytesIO(result.data)).info
    assert "ICC profile" in result.report.metadata_removed
