"""`chaosctl setup --dev`: the third-party model server the example and its test run (MLServer).

It goes into its OWN virtualenv, TOOLS_DIR/mlserver, never into chaosctl's: MLServer pins
fastapi, protobuf, grpcio and OpenTelemetry ranges of its own, and a user's service is never
installed beside the tool that tests it. Installed only from the hash-locked
examples/third-party-mlserver/requirements.lock (pip --require-hashes), so only a checkout has it
(a wheel install has no examples/ and skips the step). Idempotent: a stamp holding the lock's
sha256 says the venv is that lock's, so a second run reads two small files.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from chaosctl.settings import Settings

from .install import Outcome, Say

COMPONENT = "mlserver (example model server)"
LOCK = Path(__file__).resolve().parents[3] / "examples" / "third-party-mlserver" / "requirements.lock"


def mlserver_venv(settings: Settings) -> Path:
    """Where the example's MLServer lives (its bin/mlserver is the server)."""
    return settings.tools_dir / "mlserver"


def _digest(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def mlserver_step(settings: Settings, say: Say, lock: Path = LOCK) -> Outcome:
    if not lock.is_file():
        return Outcome(COMPONENT, "ok", f"skipped: no {lock.name} here (only a checkout's tests run the example)")
    venv = mlserver_venv(settings)
    stamp = venv / ".lock-sha256"
    want = _digest(lock)
    if (venv / "bin" / "mlserver").is_file() and stamp.is_file() and stamp.read_text().strip() == want:
        return Outcome(COMPONENT, "ok", f"already installed ({venv})")
    say(f"installing MLServer into its own venv {venv} from {lock.name} (--require-hashes)")
    steps = ([sys.executable, "-m", "venv", "--clear", str(venv)],
             [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
              "--no-compile", "--require-hashes", "-r", str(lock)])
    for argv in steps:
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            return Outcome(COMPONENT, "missing", f"`{' '.join(argv)}` failed ({tail[0]})")
    stamp.write_text(want + "\n")
    return Outcome(COMPONENT, "installed", f"MLServer from {lock.name} into {venv}")
