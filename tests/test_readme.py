"""Every code block in the README runs as written (a user copies them; CI proves they work).

Shell blocks run in bash with `set -e` in a fresh folder holding what they name (photo.jpg,
clip.mp4, interview.mov, crowd.mp4, DIR, veil-example/), with veil on the PATH as the README's
activation line leaves it. Two blocks are run by .ci/run itself instead (named below).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import write_clip

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)
# Blocks .ci/run runs as its own steps (they set up and test the project itself).
RUN_BY_CI = {
    "./setup.sh": "the README's first two commands are what .ci/run runs",
    ".venv/bin/ruff": "the developer commands: .ci/run runs lint, types, contracts and tests",
}


def readme_blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer((ROOT / "README.md").read_text())]


def _skip_reason(code: str) -> str | None:
    return next((why for start, why in RUN_BY_CI.items() if code.startswith(start)), None)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, example_jpeg: bytes) -> Path:
    """The files the README's examples name, made from the bundled example photo."""
    folder = tmp_path_factory.mktemp("readme-files")
    (folder / "photo.jpg").write_bytes(example_jpeg)
    sheet = np.asarray(Image.open(io.BytesIO(example_jpeg)).convert("RGB"))
    clip = write_clip(folder / "clip.mp4", sheet, frames=25, sound=True)
    import av

    mov = folder / "interview.mov"
    with av.open(str(clip)) as inp, av.open(str(mov), "w", format="mov") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    shutil.copy(clip, folder / "crowd.mp4")
    (folder / "DIR" / "sub").mkdir(parents=True)
    (folder / "DIR" / "photo.jpg").write_bytes(example_jpeg)
    (folder / "DIR" / "sub" / "photo.jpg").write_bytes(example_jpeg)
    shutil.copy(clip, folder / "DIR" / "clip.mp4")
    return folder


def _run_shell(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen(["bash", "-e", "-c", code], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):  # a service the block left running
            os.killpg(proc.pid, signal.SIGTERM)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("index", range(len(readme_blocks())))
def test_readme_block_runs_as_written(index: int, workspace: Path, tmp_path: Path) -> None:
    language, code = readme_blocks()[index]
    reason = _skip_reason(code)
    if reason:
        pytest.skip(reason)
    cwd = tmp_path / "here"
    shutil.copytree(workspace, cwd)
    os.symlink(ROOT / ".venv", cwd / ".venv")
    if language == "json":
        import veil

        assert veil.PlanSet.from_json(json.loads(code)).files
        return
    if language == "python":
        res = subprocess.run([sys.executable, "-m", "veil", "--example", "-q"], cwd=cwd,
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        res = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                             text=True, timeout=600)
    else:
        assert language == "sh", language
        res = _run_shell(code, cwd)
    assert res.returncode == 0, f"README block {index} failed:\n{code}\n{res.stdout}\n{res.stderr}"
