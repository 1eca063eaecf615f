#!/usr/bin/env bash
# Bootstraps the Python venv .venv with chaosctl and its test extras (only from the hash-locked
# requirements/*.txt: see scripts/install-venv.sh), skipping it when it is up to date.
# The components (etcd, Prometheus, Toxiproxy, Jaeger, ...) are installed by `chaosctl setup`,
# which `make setup` runs next: the same installer as for a user of the wheel.
set -u
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# Re-done whenever pyproject.toml or a lock file is newer than the last good install.
venv_fresh() {
  [ -x .venv/bin/chaosctl ] && [ -f .venv/.stamp ] || return 1
  for f in pyproject.toml requirements/lock.txt requirements/bootstrap.txt; do
    [ .venv/.stamp -nt "$f" ] || return 1
  done
}
if venv_fresh; then
  say "python venv: up to date"
else
  say "installing the python venv .venv from requirements/lock.txt (--require-hashes)"
  if bash scripts/install-venv.sh .venv; then
    touch .venv/.stamp
  else
    say "MISSING: python venv: scripts/install-venv.sh .venv failed (pip install --require-hashes -r requirements/lock.txt)"
    exit 1
  fi
fi
# chaosctl's own modules byte-compiled once (only what changed is redone): pip compiles what it
# installs, not the editable source, and where PYTHONDONTWRITEBYTECODE=1 is set (as on some CI
# machines) every chaosctl process and service would compile its imports anew (~0.13 s CPU each).
.venv/bin/python -m compileall -q -j 0 src/chaosctl >/dev/null || say "byte-compiling src/chaosctl failed (harmless: modules compile on import)"
