#!/usr/bin/env bash
# Creates (or refreshes) a Python venv with chaosctl and its test extras, from the
# hash-locked requirements only:
#   1. requirements/bootstrap.txt (pip and setuptools, pinned, with hashes), installed
#      by the venv's own pip, so that everything after runs on a pinned pip;
#   2. requirements/lock.txt (runtime + test extras, every file's hash), --require-hashes;
#   3. chaosctl itself, editable, --no-deps (nothing unlocked sneaks in) and
#      --no-build-isolation (built with the pinned setuptools of step 1, not whatever
#      PyPI serves as "setuptools>=x" at that moment).
# Usage: scripts/install-venv.sh [VENV_DIR]   (default .venv; scripts/setup.sh calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
PY=${PYTHON:-python3}

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes -r requirements/bootstrap.txt
"$VENV/bin/python" -m pip install -q --require-hashes -r requirements/lock.txt
"$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
# A lock that does not satisfy itself (a missing transitive pin) fails here, not at import time.
"$VENV/bin/python" -m pip check
