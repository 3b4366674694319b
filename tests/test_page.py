"""The review page in real headless Chromium (Debian's chromium, driven by Playwright),
against `veil serve` on 127.0.0.1: upload, edit the plan with keyboard and mouse, re-render,
download, and check the downloaded file's masks and metadata."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import covered_share, identifying_tags
from service import Service, start_service

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        if os.environ.get("VEIL_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (Debian: apt install chromium)")
        pytest.skip("no chromium on this machine (Debian: apt install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = start_service(tmp_path_factory.mktemp("page") / "data")
    yield svc
    svc.stop()
    assert svc.originals() == [], "an original outlived the review"


@pytest.fixture()
def page(browser, service):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Turn on file-chooser interception before any test presses a key (enabling it inside
    # expect_file_chooser can race the first chooser of a fresh browser).
    page.on("filechooser", lambda chooser: None)
    page.goto(service.url)
    yield page
    context.close()
    assert errors == [], errors


def wait_status(page, text: str, timeout: int = 30_000) -> None:
    """Wait for the page's live status line (what a screen reader announces) to say `text`."""
    page.wait_for_function(
        "text => document.getElementById('status').textContent.includes(text)",
        arg=text,
        timeout=timeout,
    )


def rerender_and_download(page, folder: Path, timeout: int) -> Path:
    """Re-render the edited plan, wait for it, and save what the Download link gives."""
    page.get_by_role("button", name="Re-render").click()
    wait_status(page, "Re-rendered", timeout)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download result").click()
    out = folder / download.value.suggested_filename
    download.value.save_as(out)
    return out


def plan_of(page) -> dict:
    return page.evaluate("() => current.plan")


def test_photo_review_with_the_keyboard(page, service, tmp_path, example_jpeg, example_faces):
    photo = tmp_path / "portraits.jpg"
    photo.write_bytes(example_jpeg)
    # Keyboard only: Tab to the drop zone, Enter opens the file picker.
    page.locator("#drop").focus()
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(photo))
    page.locator("#overlay rect.region").first.wait_for(timeout=120_000)
    regions = len(plan_of(page)["regions"])
    assert regions >= len(example_faces)
    # Hiding faint boxes hides them from view only; the plan keeps every one.
    drawn = page.locator("#overlay rect.region").count()
    assert page.locator("#overlay rect.region.faint").count() > 0
    page.get_by_label("Show faint boxes").uncheck()
    assert page.locator("#overlay rect.region.faint").count() == 0
    assert page.locator("#overlay rect.region").count() <= drawn
    assert len(plan_of(page)["regions"]) == regions
    page.get_by_label("Show faint boxes").check()
    assert page.locator("#overlay rect.region").count() == drawn

    # Tab onto the box over the first portrait and mark it to stay visible.
    keep = example_faces[0]
    index = next(
        i
        for i, r in enumerate(plan_of(page)["regions"])
        if keep[0] < (r["box"][0] + r["box"][2]) / 2 < keep[2]
        and keep[1] < (r["box"][1] + r["box"][3]) / 2 < keep[3]
    )
    page.locator(f'#overlay rect[data-index="{index}"]').focus()
    page.keyboard.press("k")
    assert plan_of(page)["regions"][index]["keep"] is True

    # N adds a box in the middle; arrow keys move it and Shift+arrows grow it.
    page.keyboard.press("n")
    added = plan_of(page)["regions"][-1]["box"]
    for key in ["ArrowUp"] * 3 + ["Shift+ArrowRight"] * 2:
        page.keyboard.press(key)
    moved = plan_of(page)["regions"][-1]["box"]
    assert moved[1] < added[1] and moved[2] - moved[0] > added[2] - added[0]
    assert len(plan_of(page)["regions"]) == regions + 1

    # Delete removes the selected box; add another and keep it, so there is one to check.
    page.keyboard.press("Delete")
    assert len(plan_of(page)["regions"]) == regions
    page.keyboard.press("n")
    new_box = plan_of(page)["regions"][-1]["box"]

    out = rerender_and_download(page, tmp_path, 120_000)
    assert out.name == "portraits.veiled.jpg"
    assert identifying_tags(out) == []
    assert covered_share(out, keep) < 0.2  # the face a person chose to leave visible
    for box in example_faces[1:]:
        assert covered_share(out, box) > 0.95
    assert covered_share(out, new_box) > 0.95  # the box the person added

    page.get_by_role("button", name="Finish").click()
    wait_status(page, "original was deleted")
    assert service.originals() == []


def test_photo_review_with_the_mouse(page, service, tmp_path, example_jpeg):
    photo = tmp_path / "drop.jpg"
    photo.write_bytes(example_jpeg)
    # Drag and drop a file onto the drop zone, as a person would from their desktop.
    handle = page.evaluate_handle(
        """async (bytes) => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], "drop.jpg", { type: "image/jpeg" }));
            return dt;
        }""",
        list(example_jpeg),
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": handle})
    page.locator("#overlay rect.region").first.wait_for(timeout=120_000)
    page.get_by_role("button", name="Add box (N)").click()
    before = plan_of(page)["regions"][-1]["box"]
    rect = page.locator(f'#overlay rect[data-index="{len(plan_of(page)["regions"]) - 1}"]')
    box = rect.bounding_box()
    start = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] - 60, start[1] - 40, steps=5)
    page.mouse.up()
    after = plan_of(page)["regions"][-1]["box"]
    assert after[0] < before[0] and after[1] < before[1]
    # Resize by the corner handle.
    corner = page.locator("#overlay rect.handle").bounding_box()
    page.mouse.move(corner["x"] + corner["width"] / 2, corner["y"] + corner["height"] / 2)
    page.mouse.down()
    page.mouse.move(corner["x"] + 40, corner["y"] + 30, steps=5)
    page.mouse.up()
    resized = plan_of(page)["regions"][-1]["box"]
    assert resized[2] - resized[0] > after[2] - after[0]
    page.get_by_role("button", name="Delete box").click()
    page.get_by_role("button", name="Re-render").click()
    wait_status(page, "Re-rendered", 120_000)
    page.get_by_role("button", name="Finish").click()
    wait_status(page, "original was deleted")
    assert service.originals() == []


def test_video_review_toggles_tracks(page, service, tmp_path, example_clip):
    video = tmp_path / "street.mp4"
    shutil.copy(example_clip, video)
    page.set_input_files("#file", str(video))
    first_track = page.locator("#tracks input[type=checkbox]").first
    first_track.wait_for(timeout=180_000)
    first_track.focus()
    page.keyboard.press("Space")  # keyboard: leave this track visible
    assert plan_of(page)["tracks"][0]["keep"] is True
    out = rerender_and_download(page, tmp_path, 180_000)
    assert out.name == "street.veiled.mp4"
    streams = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "csv=p=0",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(streams) == ["audio", "video"]
    job_id = page.evaluate("() => current.job.id")
    with service.client() as client:
        report = client.get(f"/v1/jobs/{job_id}/report").json()
    assert report["kept_visible"] == 1
    page.get_by_role("button", name="Finish").click()
    wait_status(page, "original was deleted")
    assert service.originals() == []


def test_a_photo_the_browser_cannot_show_is_reviewed_over_its_result(
        page, service, tmp_path, example_jpeg):
    """Chromium shows no TIFF (nor HEIC, nor JPEG XL): both panes showed a broken image, the
    boxes over nothing. Now the result is shown as the service's JPEG of it, the boxes are
    drawn over that, and the page says so; the download is still the TIFF, named as the CLI
    names it (.tif, not the .tiff of its MIME type)."""
    import io

    from PIL import Image

    photo = tmp_path / "scan.tif"
    Image.open(io.BytesIO(example_jpeg)).save(photo)
    page.set_input_files("#file", str(photo))
    page.locator("#overlay rect.region").first.wait_for(timeout=120_000)
    page.locator("#original-note").wait_for(state="visible", timeout=30_000)
    page.wait_for_function(
        "() => { const img = document.querySelector('#stage img');"
        " const shown = document.getElementById('result-media');"
        " return img.complete && img.naturalWidth > 0 && shown.naturalWidth > 0"
        " && img.src === shown.src; }",
        timeout=30_000)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download result").click()
    assert download.value.suggested_filename == "scan.veiled.tif"  # as the CLI names it
    page.get_by_role("button", name="Finish").click()
    wait_status(page, "original was deleted")
    assert service.originals() == []


def test_page_upload_error_is_one_line(page, tmp_path):
    bogus = tmp_path / "notes.jpg"
    bogus.write_text("not a photo at all")
    page.set_input_files("#file", str(bogus))
    failed = page.locator("#jobs li.failed .state")
    failed.wait_for(timeout=30_000)
    assert "not a file veil reads" in failed.text_content()


def test_a_plate_is_labelled_and_can_be_kept_apart_from_faces(page, service, tmp_path):
    """A licence plate found by --cover's default is a box of its own kind: labelled so, and
    a reviewer can leave it visible like any box."""
    from conftest import street_photo

    photo, _, _ = street_photo(tmp_path / "street.jpg")
    page.set_input_files("#file", str(photo))
    plate = page.locator("#overlay rect.region.plate")
    plate.wait_for(timeout=120_000)
    assert "plate, covered" in plate.get_attribute("aria-label")
    plate.focus()
    page.keyboard.press("k")
    regions = plan_of(page)["regions"]
    assert [r["keep"] for r in regions if r.get("category") == "plate"] == [True]
    page.get_by_role("button", name="Finish").click()
    wait_status(page, "original was deleted")
    assert service.originals() == []
