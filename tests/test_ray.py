"""`--ray`: a batch on a real multi-node Ray cluster started on this machine (a head with no
CPU and one-CPU worker nodes, each its own raylet), against the local path's outputs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import VEIL, run_veil, write_clip

pytest.importorskip("ray", reason="needs Ray (pip install 'veil[ray]')")
from ray.cluster_utils import Cluster  # noqa: E402

NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20}


def _cluster(workers: int) -> Cluster:
    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={"num_cpus": 0, "object_store_memory": 80 * 2**20})
    for _ in range(workers):
        cluster.add_node(**NODE)
    cluster.wait_for_nodes()
    return cluster


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[Cluster]:
    cluster = _cluster(2)
    yield cluster
    cluster.shutdown()


def _mixed_folder(root: Path, example_jpeg: bytes) -> Path:
    """Photos (one of them damaged), a short clip and a text file."""
    folder = root / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.jpg").write_bytes(example_jpeg)
    flipped = Image.open(io.BytesIO(example_jpeg)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    flipped.save(folder / "sub" / "b.png")
    (folder / "broken.jpg").write_bytes(example_jpeg[:3000])
    (folder / "notes.txt").write_text("not a photo")
    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    # 136 frames: on two actors, its detection runs in 3 spans (on multiples of 64), its
    # rendering in 4 parts, faces moving across the seams
    # (Matroska: the container does not declare its frames, so its packets are counted)
    write_clip(folder / "sub" / "clip.mkv", sheet, frames=136, size=(480, 256))
    return folder


def _run(folder: Path, out: Path, *extra: str) -> dict:
    res = run_veil(folder, "-o", out, "--report", out.with_suffix(".json"),
                   "--plan-out", out.with_suffix(".plan.json"), *extra)
    assert res.returncode == 1, res.stderr  # broken.jpg fails, the rest is written
    assert "broken.jpg: failed" in res.stderr
    return json.loads(out.with_suffix(".json").read_text())


def test_a_mixed_folder_on_two_nodes_comes_out_as_it_does_locally(
    tmp_path: Path, example_jpeg: bytes, two_nodes: Cluster
) -> None:
    folder = _mixed_folder(tmp_path, example_jpeg)
    local = _run(folder, tmp_path / "local", "--jobs", "1")
    on_ray = _run(folder, tmp_path / "ray", f"--ray={two_nodes.address}")
    assert on_ray["ray"]["nodes"] == 3 and on_ray["ray"]["cpus"] == 2
    assert on_ray["ray"]["retried"] == []
    assert on_ray["ray"]["split"] == [
        {"input": "sub/clip.mkv", "spans": 3, "parts": 4, "joined": True}]
    strip = ("timings", "output")  # the output folders differ by name
    for one, two in zip(local["files"], on_ray["files"], strict=True):
        for audit in (one["audit"], two["audit"]):  # threads finish segments in any order
            audit["found"] = sorted(audit.get("found", []))
        assert {k: v for k, v in one.items() if k not in strip} == {
            k: v for k, v in two.items() if k not in strip}
    assert [f["status"] for f in on_ray["files"]] == ["ok", "failed", "ok", "ok"]
    assert on_ray["skipped"] == local["skipped"]
    plans = [json.loads((tmp_path / f"{name}.plan.json").read_text()) for name in ("local", "ray")]
    assert plans[0] == plans[1]  # the same masks, photo and video
    for name in ("a.jpg", "sub/b.png"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes()
    clip_out = Path(on_ray["files"][-1]["output"])
    assert clip_out.parent == tmp_path / "ray" / "sub"
    _same_frames(Path(local["files"][-1]["output"]), clip_out)
    assert not list((tmp_path / "ray").rglob(".veil-*"))


def _same_frames(local: Path, joined: Path) -> None:
    """A video rendered in parts and joined shows the local output's frames at the same
    times, masks included: only the encoder's rounding differs (each part starts on a
    keyframe of its own), never a face left uncovered at a seam."""
    import av

    with av.open(str(local)) as one, av.open(str(joined)) as two:
        pairs = list(zip(one.decode(video=0), two.decode(video=0), strict=True))
    assert len(pairs) == 136
    for a, b in pairs:
        assert a.pts == b.pts
        diff = np.abs(a.to_ndarray(format="rgb24").astype(int) -
                      b.to_ndarray(format="rgb24").astype(int))
        assert diff.mean() < 3 and np.percentile(diff, 99.5) < 48, (a.pts, diff.mean())


def test_a_reviewed_plan_renders_on_the_cluster(
    tmp_path: Path, example_jpeg: bytes, two_nodes: Cluster
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes(example_jpeg)
    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    write_clip(src / "v.mp4", sheet, frames=136, size=(480, 256), keyframe_every=32)
    plan = tmp_path / "plan.json"
    assert run_veil("detect", src, "-o", plan).returncode == 0
    reviewed = json.loads(plan.read_text())
    regions = reviewed["files"]["a.jpg"]["regions"]
    regions[0]["keep"] = True  # a person chose to leave one face visible
    tracks = reviewed["files"]["v.mp4"]["tracks"]
    tracks[0]["keep"] = True  # and one track
    plan.write_text(json.dumps(reviewed))
    res = run_veil(src, "-o", tmp_path / "out", "--plan-in", plan, "--report",
                   tmp_path / "r.json", f"--ray={two_nodes.address}")
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    photo, video = report["files"]
    assert photo["kept_visible"] == 1 and photo["regions_masked"] == len(regions) - 1
    assert video["kept_visible"] == 1 and video["regions_masked"] == len(tracks) - 1
    # no detection ran: the reviewed plan is rendered in 4 parts, joined
    assert report["ray"]["split"] == [{"input": "v.mp4", "spans": 0, "parts": 4, "joined": True}]
    # A video with other bytes under that name is not rendered from the plan.
    with (src / "v.mp4").open("ab") as fh:
        fh.write(b"\0")
    res = run_veil(src / "v.mp4", "-o", tmp_path / "other.mp4", "--plan-in", plan,
                   f"--ray={two_nodes.address}")
    assert res.returncode == 1 and "the plan was made from another file" in res.stderr
    assert not (tmp_path / "other.mp4").exists()


def _uneven_clip(path: Path, sheet: np.ndarray) -> Path:
    """136 frames 10 ms apart for the first 40, then 200 ms apart: x264 derives its decoding
    delay from a part's first frames, so parts cut at frame 40 would overlap in time."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 480, 256, "yuv420p"
        stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        for i in range(136):
            view = np.ascontiguousarray(sheet[:256, 40 + 4 * i:520 + 4 * i])
            frame = av.VideoFrame.from_ndarray(view, format="rgb24")
            frame.pts = 10 * min(i, 40) + 200 * max(0, i - 40)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def test_a_video_whose_parts_would_not_join_is_encoded_whole(
    tmp_path: Path, example_jpeg: bytes, two_nodes: Cluster
) -> None:
    import av

    folder = tmp_path / "in"
    folder.mkdir()
    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    src = _uneven_clip(folder / "uneven.mp4", sheet)
    res = run_veil(folder, "-o", tmp_path / "out", "--report", tmp_path / "r.json",
                   f"--ray={two_nodes.address}")
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ray"]["split"] == [
        {"input": "uneven.mp4", "spans": 3, "parts": 4, "joined": False}]
    assert report["files"][0]["status"] == "ok"

    def times(path: Path) -> list[float]:
        with av.open(str(path)) as c:
            return [round(float(f.time), 4) for f in c.decode(video=0)]

    assert times(tmp_path / "out" / "uneven.mp4") == times(src)
    assert not list((tmp_path / "out").glob(".veil-*"))


@pytest.mark.slow  # a minute on a slow 2-core host: kept out of the default run's 15
def test_a_node_lost_mid_run_loses_no_file(tmp_path: Path, example_jpeg: bytes) -> None:
    cluster = _cluster(2)
    try:
        folder, out = tmp_path / "in", tmp_path / "out"
        folder.mkdir()
        for i in range(16):
            (folder / f"p{i:02}.jpg").write_bytes(example_jpeg)
        sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
        write_clip(folder / "v.mp4", sheet, frames=136, size=(480, 256))  # 3 spans, 4 parts
        run = subprocess.Popen(
            [sys.executable, "-c", VEIL, folder, "-o", out, "--report", tmp_path / "r.json",
             f"--ray={cluster.address}", "-q"],
            stderr=subprocess.PIPE, text=True)
        victim = list(cluster.worker_nodes)[0]
        deadline = time.monotonic() + 300
        while not list(out.glob("p*.jpg")) and time.monotonic() < deadline:
            time.sleep(0.05)  # the first file is written: both nodes are at work
        cluster.remove_node(victim)
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr
        report = json.loads((tmp_path / "r.json").read_text())
        assert [f["status"] for f in report["files"]] == ["ok"] * 17
        retried = report["ray"]["retried"]
        assert retried and all(r["attempt"] == 1 for r in retried), retried
        photos = [f"p{i:02}.jpg" for i in range(16)]
        assert sorted(p.name for p in out.iterdir()) == [*photos, "v.mp4"]  # nothing partial
        first = (out / "p00.jpg").read_bytes()
        assert all((out / name).read_bytes() == first for name in photos)
        assert report["files"][-1]["masks"][0]["frames"] == 136
        assert report["ray"]["split"] == [
            {"input": "v.mp4", "spans": 3, "parts": 4, "joined": True}]
    finally:
        cluster.shutdown()


def test_a_ray_run_stopped_by_kill_says_so_and_leaves_nothing(
    tmp_path: Path, example_jpeg: bytes, two_nodes: Cluster
) -> None:
    """ray.init put its own SIGTERM handler in veil's place: `kill` printed Ray's stack trace
    and exited 15 instead of veil's one line and 143."""
    import os
    import signal

    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    clip = write_clip(tmp_path / "clip.mp4", sheet, frames=150)
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.Popen([sys.executable, "-c", VEIL, clip, "-o", out / "c.mp4", "--no-audit",
                            f"--ray={two_nodes.address}"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(p.name.endswith(".part") for p in out.iterdir()):
        if run.poll() is not None or time.monotonic() > deadline:
            run.kill()
            pytest.fail(f"no part written: {run.communicate()[1]}")
        time.sleep(0.05)
    os.kill(run.pid, signal.SIGTERM)
    err = run.communicate(timeout=120)[1]
    assert run.returncode == 143, err
    assert err.strip() == "veil: stopped (SIGTERM); no partial output was left behind"
    assert list(out.iterdir()) == []


def test_a_ray_run_stopped_while_it_waits_for_the_cluster_says_why(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    """A run waiting on a cluster with no free CPU (its workers cannot start) was stopped by
    `kill` as if by Ctrl-C (exit 130): Ray turns what veil's handler raises inside its wait
    into a KeyboardInterrupt of its own."""
    import os
    import signal

    cluster = _cluster(0)
    try:
        (tmp_path / "a.jpg").write_bytes(example_jpeg)
        run = subprocess.Popen([sys.executable, "-c", VEIL, tmp_path / "a.jpg", "-o",
                                tmp_path / "out.jpg", f"--ray={cluster.address}"],
                               stderr=subprocess.PIPE, text=True)
        time.sleep(8)  # connected, and waiting for a worker that cannot start
        os.kill(run.pid, signal.SIGTERM)
        err = run.communicate(timeout=120)[1]
    finally:
        cluster.shutdown()
    assert run.returncode == 143, err
    assert err.strip() == "veil: stopped (SIGTERM); no partial output was left behind"


def test_ray_errors_are_one_line(tmp_path: Path, example_jpeg: bytes) -> None:
    (tmp_path / "a.jpg").write_bytes(example_jpeg)
    res = run_veil(tmp_path / "a.jpg", "-o", tmp_path / "out.jpg", "--ray=127.0.0.1:1")
    assert res.returncode == 2 and "no Ray cluster answers at 127.0.0.1:1" in res.stderr
    res = run_veil("--ray", tmp_path, "-o", tmp_path / "out")
    assert res.returncode == 2 and "not a cluster address" in res.stderr
    res = run_veil(tmp_path / "a.jpg", "-o", tmp_path / "out.jpg", "--ray",
                   prelude="import sys; sys.modules['ray'] = None; ")
    assert res.returncode == 2 and res.stderr.strip() == (
        "veil: --ray needs Ray: pip install 'veil[ray]'")
    assert not (tmp_path / "out.jpg").exists()


def test_the_service_runs_its_jobs_on_the_cluster(
    tmp_path: Path, example_jpeg: bytes, two_nodes: Cluster
) -> None:
    """`veil serve --ray`: the jobs run on the cluster's nodes (the uploads travel in Ray's
    object store), with the local service's results, errors and privacy rules."""
    import veil
    from service import start_service, wait_job

    svc = start_service(tmp_path / "data", "--ray", two_nodes.address, "--workers", "2")
    try:
        with svc.client() as client:
            photo = client.post("/v1/images", files={"file": ("a.jpg", example_jpeg)})
            assert photo.status_code == 200, photo.text
            assert photo.content == veil.anonymize_image(example_jpeg).data  # as run here
            bad = client.post("/v1/images", files={"file": ("b.jpg", example_jpeg[:3000])})
            assert bad.status_code == 422 and "truncated" in bad.json()["detail"]
            sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
            clip = write_clip(tmp_path / "c.mp4", sheet, frames=20, size=(480, 256))
            job = client.post("/v1/jobs", files={"file": ("c.mp4", clip.read_bytes())}).json()
            done = wait_job(client, job["id"])
            assert done["state"] == "done", done
            report = client.get(f"/v1/jobs/{job['id']}/report").json()
            assert report["masks"][0]["frames"] == 20 and report["faces"]
        assert svc.originals() == []
    finally:
        svc.stop()
    log = svc.log_text()
    assert "job" in log and "Traceback" not in log and "SIGTERM received" not in log


def _free_cpus(address: str) -> float:
    """The cluster's CPUs no task or actor holds, asked from a process of its own."""
    code = (f"import ray; ray.init(address={address!r}, logging_level='ERROR', "
            "log_to_driver=False); print(ray.available_resources().get('CPU', 0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return float(out.strip().splitlines()[-1])


def test_a_job_over_the_time_limit_stops_its_task_on_the_cluster(
    tmp_path: Path, example_jpeg: bytes, two_nodes: Cluster
) -> None:
    """The service stops a worker whose job runs past --job-timeout; the Ray task that worker
    owned stops with it (Ray ends what a dead owner started): its CPU is free again."""
    from service import start_service, wait_job

    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    clip = write_clip(tmp_path / "long.mp4", sheet, frames=800, size=(960, 512))
    svc = start_service(tmp_path / "data", "--ray", two_nodes.address, "--workers", "1",
                        "--job-timeout", "3")
    try:
        with svc.client() as client:
            job = client.post("/v1/jobs", files={"file": ("long.mp4", clip.read_bytes())})
            done = wait_job(client, job.json()["id"])
            assert done["state"] == "failed" and "time limit" in done["error"], done
        # The job alone takes about 50 s on one CPU here: a task left running would
        # still hold its CPU at the deadline.
        deadline = time.monotonic() + 15
        while _free_cpus(two_nodes.address) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _free_cpus(two_nodes.address) == 2
        assert svc.originals() == []
    finally:
        svc.stop()


@pytest.mark.slow  # as above
def test_a_service_job_whose_node_is_lost_runs_again_elsewhere(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    """The node running a video job goes away mid-job and another joins: Ray runs the task
    again there and the job completes, its original deleted."""
    from service import start_service, wait_job, wait_state

    cluster = _cluster(1)
    try:
        sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
        # Long enough to be still at work a second after it starts on a fast host (120
        # frames were done within 2 s on a 2-core AMD EPYC).
        clip = write_clip(tmp_path / "c.mp4", sheet, frames=360, size=(480, 256))
        svc = start_service(tmp_path / "data", "--ray", cluster.address, "--workers", "1")
        try:
            with svc.client() as client:
                job = client.post("/v1/jobs", files={"file": ("c.mp4", clip.read_bytes())})
                job_id = job.json()["id"]
                wait_state(client, job_id, "running")
                time.sleep(1)  # the task is on the only node, at work
                assert client.get(f"/v1/jobs/{job_id}").json()["state"] == "running"
                cluster.remove_node(list(cluster.worker_nodes)[0])
                cluster.add_node(**NODE)
                done = wait_job(client, job_id, timeout=300)
                assert done["state"] == "done", done
                report = client.get(f"/v1/jobs/{job_id}/report").json()
                assert report["masks"][0]["frames"] == 360
            assert svc.originals() == []
        finally:
            svc.stop()
    finally:
        cluster.shutdown()


def test_a_cluster_that_asks_for_a_token_gets_one_line(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    """A head node with Ray's token authentication (its own processes, stopped by their
    group): veil without the token says so in one line."""
    import os
    import secrets
    import signal
    import socket

    from service import free_port

    port, token = free_port(), secrets.token_hex(32)
    plain = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    with_token = {**plain, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    ray_cli = Path(sys.executable).parent / "ray"
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--block", "--port", str(port), "--num-cpus", "1",
         "--disable-usage-stats", "--include-dashboard=false"],
        env=with_token, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        (tmp_path / "a.jpg").write_bytes(example_jpeg)
        address = f"127.0.0.1:{port}"
        res = run_veil(tmp_path / "a.jpg", "-o", tmp_path / "out.jpg", f"--ray={address}",
                       env=plain)
        assert res.returncode == 2, res.stderr
        assert res.stderr.strip().splitlines() == [
            f"veil: --ray: the cluster at {address} asks for Ray's token: set "
            "RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN, or ~/.ray/auth_token) for veil "
            "as for the cluster"]
        assert not (tmp_path / "out.jpg").exists()  # with the token: the README's block
    finally:
        os.killpg(head.pid, signal.SIGKILL)  # every process the head started (a graceful
        head.wait(60)  # stop takes half a minute)


def test_dev_photos_get_the_local_masks_on_the_cluster(
    tmp_path: Path, two_nodes: Cluster
) -> None:
    """The dev slice's kinds of photos (crowds, groups, meetings): the same plan and the same
    output bytes on two nodes as in one local process."""
    from conftest import shared

    folder = tmp_path / "dev"
    folder.mkdir()
    for kind in ("2--Demonstration", "12--Group", "11--Meeting"):
        for photo in sorted(shared("wider-dev/images").glob(f"{kind}/*.jpg"))[:2]:
            (folder / photo.name).write_bytes(photo.read_bytes())
    for name, extra in (("local", "--jobs=1"), ("ray", f"--ray={two_nodes.address}")):
        res = run_veil(folder, "-o", tmp_path / name, "--plan-out", tmp_path / f"{name}.json",
                       extra)
        assert res.returncode == 0, res.stderr
    plans = [json.loads((tmp_path / f"{n}.json").read_text()) for n in ("local", "ray")]
    assert len(plans[0]["files"]) == 6 and plans[0] == plans[1]
    for photo in folder.iterdir():
        local = (tmp_path / "local" / photo.name).read_bytes()
        assert (tmp_path / "ray" / photo.name).read_bytes() == local
