"""The HTTP service, end to end over loopback: every endpoint, its errors, workers that
crash, a service that is killed mid-job, expiry, API keys, and the privacy of its data dir."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from conftest import covered_share, identifying_tags, run_veil
from service import Service, start_service, wait_job, wait_state

SECRET_NAME = "maria-at-the-march-2026.jpg"  # must never reach the service's logs or disk


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = start_service(tmp_path_factory.mktemp("svc") / "data", "--max-upload-mb", "8")
    yield svc
    svc.stop()
    assert svc.originals() == [], "an original outlived the service run"


@pytest.fixture()
def client(service: Service) -> Iterator[httpx.Client]:
    with service.client() as c:
        yield c


def post_photo(client: httpx.Client, data: bytes, path: str = "/v1/images", **fields: str):
    return client.post(path, files={"file": (SECRET_NAME, data, "image/jpeg")}, data=fields)


def test_photo_in_one_request(client, service, example_jpeg, example_faces, tmp_path):
    response = post_photo(client, example_jpeg)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    out = tmp_path / "out.jpg"
    out.write_bytes(response.content)
    for box in example_faces:
        assert covered_share(out, box) > 0.95
    assert identifying_tags(out) == []
    job_id = response.headers["x-veil-job"]
    report = client.get(response.headers["x-veil-report"]).json()
    assert report["status"] == "ok" and len(report["faces"]) >= len(example_faces)
    assert any("GPS" in name for name in report["metadata_removed"])
    assert SECRET_NAME not in json.dumps(report)
    # Not a review job: its original went as soon as it was done.
    assert job_id not in service.originals()


def test_job_lifecycle_and_options(client, service, example_jpeg, example_faces, tmp_path):
    job = post_photo(client, example_jpeg, "/v1/jobs", mask="mosaic", format="png").json()
    assert job["state"] in ("queued", "running") and job["kind"] == "image"
    done = wait_job(client, job["id"])
    assert done["state"] == "done" and done["options"]["mask"] == "mosaic"
    result = client.get(f"/v1/jobs/{job['id']}/result")
    assert result.headers["content-type"] == "image/png"
    assert "attachment" in result.headers["content-disposition"]
    assert SECRET_NAME not in result.headers["content-disposition"]
    original = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB")).astype(int)
    masked = np.asarray(Image.open(io.BytesIO(result.content)).convert("RGB")).astype(int)
    x1, y1, x2, y2 = (int(v) for v in example_faces[0])
    assert np.abs(original[y1:y2, x1:x2] - masked[y1:y2, x1:x2]).mean() > 20
    plan = client.get(f"/v1/jobs/{job['id']}/plan").json()
    assert plan["media"] == "image" and plan["regions"]
    assert client.get(f"/v1/jobs/{job['id']}/report").json()["output_format"] == "PNG"
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 404
    assert not list((service.data_dir / "results").glob(f"{job['id']}*"))


def test_review_edits_render_without_detecting(
    client, service, example_jpeg, example_faces, tmp_path
):
    job = post_photo(client, example_jpeg, "/v1/jobs", review="true").json()
    assert wait_job(client, job["id"])["original_kept"] is True
    assert job["id"] in service.originals()
    plan = client.get(f"/v1/jobs/{job['id']}/plan").json()
    keep = example_faces[0]
    for region in plan["regions"]:  # leave the first portrait visible, as a person chose
        x1, y1, x2, y2 = region["box"]
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        if keep[0] < cx < keep[2] and keep[1] < cy < keep[3]:
            region["keep"] = True
    plan["regions"].append({"box": [0, 0, 40, 40], "keep": False})  # and cover a corner
    response = client.put(f"/v1/jobs/{job['id']}/plan", json=plan)
    assert response.status_code == 202, response.text
    done = wait_job(client, job["id"])
    assert done["state"] == "done" and done["task"] == "render"
    out = tmp_path / "edited.jpg"
    out.write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
    assert covered_share(out, keep) < 0.2
    for box in example_faces[1:]:
        assert covered_share(out, box) > 0.95
    assert covered_share(out, [0, 0, 40, 40], inner=0.5) > 0.9
    report = client.get(f"/v1/jobs/{job['id']}/report").json()
    assert report["kept_visible"] >= 1 and report["audit"]["ran"] is False
    # Finishing the review deletes the original; the plan can no longer be edited.
    finished = client.post(f"/v1/jobs/{job['id']}/finish").json()
    assert finished["original_kept"] is False and job["id"] not in service.originals()
    again = client.put(f"/v1/jobs/{job['id']}/plan", json=plan)
    assert again.status_code == 409 and "original is gone" in again.json()["detail"]
    client.delete(f"/v1/jobs/{job['id']}")


def test_a_tiff_result_has_a_jpeg_preview_for_the_page(client, example_jpeg, example_faces):
    """Browsers show no TIFF: the review page shows the result through /preview, a JPEG of
    the result (never of the original)."""
    tiff = io.BytesIO()
    Image.open(io.BytesIO(example_jpeg)).save(tiff, "TIFF")
    job = post_photo(client, tiff.getvalue(), "/v1/jobs").json()
    assert wait_job(client, job["id"])["state"] == "done"
    result = client.get(f"/v1/jobs/{job['id']}/result")
    assert result.headers["content-type"] == "image/tiff"
    preview = client.get(f"/v1/jobs/{job['id']}/preview")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    shown = np.asarray(Image.open(io.BytesIO(preview.content)).convert("RGB")).astype(int)
    masked = np.asarray(Image.open(io.BytesIO(result.content)).convert("RGB")).astype(int)
    assert shown.shape == masked.shape and np.abs(shown - masked).mean() < 3
    x1, y1, x2, y2 = (int(v) for v in example_faces[1])
    assert shown[y1:y2, x1:x2].mean() < 40  # the covered face, as in the result


def test_plan_edits_are_checked(client, example_jpeg):
    job = post_photo(client, example_jpeg, "/v1/jobs", review="true").json()
    wait_job(client, job["id"])
    url = f"/v1/jobs/{job['id']}/plan"
    plan = client.get(url).json()
    cases = [
        (b"{not json", "not valid JSON"),
        (json.dumps({**plan, "width": 10}).encode(), "width and height"),
        (json.dumps({**plan, "regions": [{"box": [5, 5, 1, 1]}]}).encode(), "x2 > x1"),
        (
            json.dumps({"media": "video", "width": 1, "height": 1, "frames": 1}).encode(),
            "image plan",
        ),
        (json.dumps({**plan, "sha256": "0" * 64}).encode(), "made from another file"),
    ]
    for body, reason in cases:
        response = client.put(url, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422 and reason in response.json()["detail"], response.text
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204


def test_a_bad_plan_never_costs_a_review_its_original(client, service, example_jpeg):
    job = post_photo(client, example_jpeg, "/v1/jobs", review="true").json()
    wait_job(client, job["id"])
    url = f"/v1/jobs/{job['id']}/plan"
    plan = client.get(url).json()
    result = client.get(f"/v1/jobs/{job['id']}/result").content
    region = plan["regions"][0]
    cases = [
        # bool("false") is True: a string here once left the face visible
        (json.dumps({**plan, "regions": [{**region, "keep": "false"}]}), "must be true or false"),
        (json.dumps({**plan, "width": str(plan["width"])}), "width must be a whole number"),
        (json.dumps({**plan, "regions": [{**region, "box": [0, 0, float("inf"), 5]}]}),
         "finite number"),
        ("[" * 50_000 + "]" * 50_000, "nested"),
        (json.dumps({**plan, "regions": [{**region, "box": [0, 0, 1e12, 5]}]}), "outside"),
    ]
    for body, reason in cases:
        response = client.put(url, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422 and reason in response.json()["detail"], response.text
    state = client.get(f"/v1/jobs/{job['id']}").json()
    assert state["state"] == "done" and state["original_kept"] is True
    assert job["id"] in service.originals()
    assert client.get(f"/v1/jobs/{job['id']}/result").content == result
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204


def test_video_job(client, service, tmp_path, example_clip):
    with example_clip.open("rb") as fh:
        job = client.post("/v1/jobs", files={"file": ("holiday.mov", fh)}, data={"audio": "copy"})
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    early = client.get(f"/v1/jobs/{job_id}/result")
    assert early.status_code in (200, 409)
    done = wait_job(client, job_id)
    assert done["state"] == "done", done
    out = tmp_path / "out.mp4"
    out.write_bytes(client.get(f"/v1/jobs/{job_id}/result").content)
    probe = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(out)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert sorted(s["codec_type"] for s in probe["streams"]) == ["audio", "video"]
    assert not probe["format"].get("tags") or set(probe["format"]["tags"]) <= {
        "major_brand",
        "minor_version",
        "compatible_brands",
    }
    plan = client.get(f"/v1/jobs/{job_id}/plan").json()
    assert plan["media"] == "video" and plan["tracks"]
    assert job_id not in service.originals()
    preview = client.get(f"/v1/jobs/{job_id}/preview")
    assert preview.status_code == 404 and "only a photo" in preview.json()["detail"]


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG header that claims a huge image (a decompression bomb's first bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("path", "data", "status", "reason"),
    [
        ("/v1/jobs", b"just some text, not a photo", 415, "not a file veil reads"),
        ("/v1/jobs", b"", 415, "not a file veil reads"),
        ("/v1/images", "clip", 415, "send videos to POST /v1/jobs"),
        ("/v1/images", b"\xff\xd8\xff" + os.urandom(4000), 422, "image"),
        ("/v1/images", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, 422, ""),
        ("/v1/images", _png_claiming(60000, 60000), 422, "decompression bomb"),
        ("/v1/jobs", "clip[:20000]", 202, ""),  # truncated: fails in its job
        # garbage behind a video's signature: its error once named the server's storage path
        ("/v1/jobs", b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000), 202, "video"),
    ],
)
def test_bad_uploads_get_a_reason(client, service, path, data, status, reason, example_clip):
    if data == "clip":
        data = example_clip.read_bytes()
    elif data == "clip[:20000]":
        data = example_clip.read_bytes()[:20000]
    response = client.post(path, files={"file": (SECRET_NAME, data)})
    assert response.status_code == status, response.text
    if status == 202:
        failed = wait_job(client, response.json()["id"])
        assert failed["state"] == "failed", failed
        response = client.get(f"/v1/jobs/{failed['id']}/result")
        assert response.status_code == 422
    detail = response.json()["detail"]
    assert reason in detail and "\n" not in detail and "Traceback" not in detail
    assert str(service.data_dir) not in detail and "originals" not in detail
    assert service.originals() == [] or all(
        client.get(f"/v1/jobs/{j}").json()["state"] in ("queued", "running", "done")
        for j in service.originals()
    )


def test_request_errors(client, example_jpeg):
    assert post_photo(client, example_jpeg, mask="glitter").status_code == 422
    assert post_photo(client, example_jpeg, margin="9").status_code == 422
    assert post_photo(client, example_jpeg, color="not-a-colour").status_code == 422
    missing = client.post("/v1/images", data={"mask": "solid"})
    assert missing.status_code == 422 and "file" in missing.json()["detail"]
    garbled = client.post(
        "/v1/images",
        content=b"--xyz\r\nnot a form",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert 400 <= garbled.status_code < 500
    for method, url in [
        ("GET", "/v1/jobs/nope"),
        ("GET", "/v1/jobs/nope/result"),
        ("GET", "/v1/jobs/nope/report"),
        ("GET", "/v1/jobs/nope/plan"),
        ("PUT", "/v1/jobs/nope/plan"),
        ("POST", "/v1/jobs/nope/finish"),
        ("DELETE", "/v1/jobs/nope"),
    ]:
        response = client.request(method, url)
        assert response.status_code == 404 and response.json() == {"detail": "no such job"}


def test_a_bad_option_gets_the_cli_message_and_leaves_no_upload(client, service, example_jpeg):
    for field, value, message in [
        ("mask", "glitter", "mask: 'glitter' is not one of solid, mosaic, blur"),
        ("margin", "9", "margin must be a number between 0 and 3"),
    ]:
        response = post_photo(client, example_jpeg, **{field: value})
        assert response.status_code == 422 and response.json() == {"detail": message}
        assert message in run_veil("x.jpg", f"--{field}", value).stderr
    assert not list((service.data_dir / "tmp").iterdir())


def test_the_form_is_made_from_the_options_table(client):
    from veil.options import specs

    schema = client.get("/openapi.json").json()["components"]["schemas"]
    form = next(v for k, v in schema.items() if k.startswith("Body_post_job"))["properties"]
    for spec in specs():
        assert (spec.name in form) == spec.service, spec.name
    assert form["mask"]["enum"] == ["solid", "mosaic", "blur"]
    assert (form["margin"]["minimum"], form["margin"]["maximum"]) == (0, 3)
    assert "review" in form and "file" in form


def test_upload_size_limit(client, service):
    big = b"\xff\xd8\xff" + b"\0" * (9 * 1024 * 1024)  # the fixture allows 8 MiB
    response = client.post("/v1/images", files={"file": ("big.jpg", big)})
    assert response.status_code == 413
    assert not list((service.data_dir / "tmp").iterdir())


def test_openapi_documents_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/images", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result",
            "/v1/jobs/{job_id}/preview"} <= set(paths)
    assert {"get", "put"} <= set(paths["/v1/jobs/{job_id}/plan"])
    assert "delete" in paths["/v1/jobs/{job_id}"]
    # Metadata values are shown on the user's own machine only (veil inspect), never here.
    assert not [p for p in paths if "inspect" in p or "metadata" in p]


def test_worker_crash_fails_one_job_only(client, service, example_jpeg, example_clip):
    clip = {"file": ("v.mp4", example_clip.read_bytes())}
    job_id = client.post("/v1/jobs", files=clip).json()["id"]
    wait_state(client, job_id, "running")
    pid = service.worker_of(job_id)
    assert pid
    os.kill(pid, signal.SIGKILL)  # what a decoder crashing on a hostile file looks like
    failed = wait_job(client, job_id)
    assert failed["state"] == "failed" and "stopped the worker" in failed["error"]
    result = client.get(f"/v1/jobs/{job_id}/result")
    assert result.status_code == 422 and "stopped the worker" in result.json()["detail"]
    assert job_id not in service.originals()
    # The service, and the next job, carry on (a new worker replaces the dead one).
    assert post_photo(client, example_jpeg).status_code == 200
    deadline = time.monotonic() + 60
    while client.get("/healthz").json()["workers"] < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get("/healthz").json()["workers"] == 2


def test_logs_hold_no_names_or_addresses(service, client, example_jpeg):
    post_photo(client, example_jpeg)
    log = service.log_text()
    assert "POST /v1/images 200" in log
    assert SECRET_NAME not in log and "maria" not in log
    for line in log.splitlines():
        assert "127.0.0.1:" not in line or "Uvicorn running on" in line, line


def test_restart_mid_job_finishes_it(tmp_path, example_jpeg, example_clip):
    data = tmp_path / "data"
    first = start_service(data, "--workers", "1")
    with first.client() as c:
        done_before = post_photo(c, example_jpeg).headers["x-veil-job"]
        clip = {"file": ("v.mp4", example_clip.read_bytes())}
        job_id = c.post("/v1/jobs", files=clip).json()["id"]
        wait_state(c, job_id, "running")
        worker = first.worker_of(job_id)
    first.kill()  # the web process dies without any chance to clean up
    deadline = time.monotonic() + 10
    while worker and _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker and not _alive(worker), "a worker outlived the service"
    second = start_service(data, "--workers", "1")
    try:
        with second.client() as c:
            done = wait_job(c, job_id)
            assert done["state"] == "done", done
            assert c.get(f"/v1/jobs/{job_id}/result").status_code == 200
            # A result finished before the crash is still there until it expires.
            assert c.get(f"/v1/jobs/{done_before}/result").status_code == 200
        assert second.originals() == []
        assert list((data / "tmp").iterdir()) == []
        owners = {p.name.split(".")[0] for p in (data / "results").iterdir()}
        assert owners == {job_id, done_before}
    finally:
        second.stop()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_results_expire(tmp_path, example_jpeg):
    # 0.0005 h = 1.8 s
    svc = start_service(tmp_path / "data", "--workers", "1", "--result-ttl", "0.0005")
    try:
        with svc.client() as c:
            response = post_photo(c, example_jpeg)
            job_id = response.headers["x-veil-job"]
            assert c.get(f"/v1/jobs/{job_id}/result").status_code == 200
            deadline = time.monotonic() + 30
            while c.get(f"/v1/jobs/{job_id}").json()["state"] != "expired":
                assert time.monotonic() < deadline, "result never expired"
                time.sleep(0.2)
            gone = c.get(f"/v1/jobs/{job_id}/result")
            assert gone.status_code == 410
            assert not list((svc.data_dir / "results").iterdir())
    finally:
        svc.stop()


def test_a_data_dir_holding_other_files_is_refused(tmp_path, example_jpeg):
    """At every start the service deletes each file in originals/, results/ and tmp/ that no
    job owns: `--data-dir ~/evidence` deleted ~/evidence/originals/IMG_0001.jpg. A folder
    that is neither new, empty nor veil's own is refused before anything is touched."""
    evidence = tmp_path / "evidence"
    (evidence / "originals").mkdir(parents=True)
    photo = evidence / "originals" / "IMG_0001.jpg"
    photo.write_bytes(example_jpeg)
    before = sorted(p.relative_to(evidence) for p in evidence.rglob("*"))
    for args in (["serve", "--port", "1"], ["keys", "list"]):
        res = run_veil(*args, "--data-dir", evidence, timeout=120)
        assert res.returncode == 2, res.stderr
        assert res.stderr.strip().endswith("name a new or empty one"), res.stderr
    assert sorted(p.relative_to(evidence) for p in evidence.rglob("*")) == before
    assert photo.read_bytes() == example_jpeg
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_veil("keys", "list", "--data-dir", empty).returncode == 0  # new or empty: fine


def test_api_keys_and_rate_limit(tmp_path, example_jpeg):
    data = tmp_path / "data"
    keys = [run_veil("keys", "add", name, "--data-dir", data).stdout.strip() for name in "ab"]
    assert all(k.startswith("veil_") for k in keys)
    stored = (data / "jobs.sqlite3").read_bytes()
    assert not any(k.encode() in stored for k in keys), "keys must be stored hashed"
    svc = start_service(data, "--workers", "1", "--rate-limit", "2")
    try:
        with svc.client() as anonymous:
            response = post_photo(anonymous, example_jpeg)
            assert response.status_code == 401 and "API key" in response.json()["detail"]
            assert (
                anonymous.get("/v1/jobs/x", headers={"X-API-Key": "veil_wrong"}).status_code == 401
            )
        with (
            svc.client(authorization=f"Bearer {keys[0]}") as a,
            svc.client(**{"x-api-key": keys[1]}) as b,
        ):
            first = post_photo(a, example_jpeg)
            assert first.status_code == 200
            assert post_photo(a, example_jpeg).status_code == 200
            limited = post_photo(a, example_jpeg)
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
            assert post_photo(b, example_jpeg).status_code == 200  # the limit is per key
            # One key cannot see another key's jobs.
            assert b.get(f"/v1/jobs/{first.headers['x-veil-job']}").status_code == 404
    finally:
        svc.stop()


def test_full_queue_says_busy(tmp_path, example_jpeg, example_clip):
    svc = start_service(tmp_path / "data", "--workers", "1", "--max-queue", "1")
    try:
        with svc.client() as c:
            video = c.post("/v1/jobs", files={"file": ("v.mp4", example_clip.read_bytes())})
            assert video.status_code == 202
            busy = post_photo(c, example_jpeg)
            assert busy.status_code == 503 and busy.headers["retry-after"]
            assert "busy" in busy.json()["detail"]
            assert wait_job(c, video.json()["id"])["state"] == "done"
            assert post_photo(c, example_jpeg).status_code == 200  # room again
        assert svc.originals() == []
    finally:
        svc.stop()


def test_jobs_run_under_a_time_and_a_memory_limit(tmp_path, example_jpeg, example_clip):
    svc = start_service(
        tmp_path / "data", "--workers", "1", "--job-timeout", "1", "--upload-timeout", "3"
    )
    try:
        with svc.client() as c:
            # A video takes longer than a second here: its worker is stopped, the job failed.
            clip = {"file": ("v.mp4", example_clip.read_bytes())}
            failed = wait_job(c, c.post("/v1/jobs", files=clip).json()["id"], timeout=120)
            assert failed["state"] == "failed" and "job time limit" in failed["error"]
            assert svc.originals() == []
            # An upload that trickles in is cut off (here after 3 s), with a 408.
            response = _trickle(svc.url, seconds=8)
            assert response.startswith(b"HTTP/1.1 408"), response[:200]
            assert not list((svc.data_dir / "tmp").iterdir())
            # And the service goes on: a new worker takes the next photo (a small one, so that
            # it finishes inside the 1 s limit on a busy 2-core machine too).
            small_photo = io.BytesIO()
            Image.open(io.BytesIO(example_jpeg)).resize((365, 128)).save(small_photo, "JPEG")
            assert post_photo(c, small_photo.getvalue()).status_code == 200
    finally:
        svc.stop()
    small = start_service(tmp_path / "data2", "--workers", "1", "--job-memory-mb", "800")
    big = io.BytesIO()
    Image.open(io.BytesIO(example_jpeg)).resize((6000, 4000)).save(big, "JPEG")
    try:
        with small.client() as c:
            response = post_photo(c, big.getvalue())
            # 800 MB is about what the models take: a 24 MP photo does not fit; it fails alone.
            assert response.status_code == 422, response.text
            assert "memory" in response.json()["detail"] or "stopped" in response.json()["detail"]
            assert c.get("/healthz").json()["ok"]
    finally:
        small.stop()


def _trickle(url: str, seconds: float) -> bytes:
    """POST a photo upload one byte every half second; return what the server answered."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n\r\n"
    body += b"\xff\xd8\xff" + b"\0" * 200
    head = (
        f"POST /v1/images HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; "
        f"boundary=b\r\nContent-Length: {len(body) + 100}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        end = time.monotonic() + seconds
        sock.setblocking(False)
        answer = b""
        for byte in body:
            if time.monotonic() > end:
                break
            try:
                sock.sendall(bytes([byte]))
                answer += sock.recv(4096)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
            if answer:
                break
            time.sleep(0.5)
        sock.setblocking(True)
        sock.settimeout(10)
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            answer += sock.recv(4096)
    return answer


def test_damaged_files_get_a_4xx_never_a_500(client, service):
    """A slice of the hostile corpus (tests/hostile.py) through the service."""
    from hostile import cases, image_seeds, video_seeds

    jobs = []
    for kind, count, seeds in (("image", 40, image_seeds()), ("video", 8, video_seeds())):
        for case in cases(kind, count, seeds, start=900):
            response = client.post("/v1/jobs", files={"file": ("upload", case.data)})
            assert response.status_code in (202, 415, 422), (case.name, response.text)
            if response.status_code == 202:
                jobs.append((case.name, response.json()["id"]))
    for name, job_id in jobs:
        job = wait_job(client, job_id)
        result = client.get(f"/v1/jobs/{job_id}/result")
        assert result.status_code in (200, 422), (name, result.text)
        if result.status_code == 422:
            assert "internal" not in result.json()["detail"], (name, job)
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
