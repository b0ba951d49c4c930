#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine that has only Python 3.10+:
# creates .venv, installs the project with its dev extra, adds optional system data when it
# can (Debian's Fashion-MNIST, Chromium for the browser test), then runs pytest.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m slow` or `scripts/test.sh tests/test_models.py`.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

# Optional system packages: only as root on Debian/Ubuntu; tests that need them skip otherwise.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  want=()
  [ -d /usr/share/datasets/fashion-mnist ] || want+=(dataset-fashion-mnist)
  command -v chromium >/dev/null 2>&1 || want+=(chromium)
  if [ ${#want[@]} -gt 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}") >/dev/null 2>&1 \
      || echo "note: could not install ${want[*]}; tests that need them will skip"
  fi
fi

exec .venv/bin/python -m pytest "$@"
