#!/usr/bin/env bash
# The whole path on a CPU in a few minutes: a generated sample DFDC tree → face preprocessing →
# SSAT training of a small video model → video-level evaluation on the held-out test videos.
# A pipeline check on synthetic manipulations of one real face, not a measure of real-world accuracy.
# Usage: scripts/quickstart.sh [WORKDIR]   (default: data/quickstart)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-data/quickstart}
if [ ! -x .venv/bin/deepfake-ssat ]; then
  "${PYTHON:-python3}" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
fi
run() { echo "+ $*" >&2; "$@"; }
[ -d "$work/raw" ] || run .venv/bin/deepfake-ssat sample --layout dfdc --out "$work/raw" --videos 16 --frames 32 --size 192
run .venv/bin/deepfake-ssat preprocess --dataset dfdc --root "$work/raw" --out "$work/faces" --val-fraction 0.3 --size 96
run .venv/bin/deepfake-ssat train --config video/sample --data-root "$work/faces" --output "$work/run"
run .venv/bin/deepfake-ssat eval --checkpoint "$work/run/best.pt" --out "$work/eval"
