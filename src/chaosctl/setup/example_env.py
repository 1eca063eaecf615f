"""`chaosctl setup --dev`: the third-party system the example and its test run: MLServer and Caddy.

It goes into its OWN virtualenv, TOOLS_DIR/mlserver, never into chaosctl's: MLServer pins
fastapi, protobuf, grpcio and OpenTelemetry ranges of its own, and a user's service is never
installed beside the tool that tests it. Installed only from the hash-locked
examples/third-party-mlserver/requirements.lock (pip --require-hashes), so only a checkout has it
(a wheel install has no examples/ and skips the step). Idempotent: a stamp holding the lock's
sha256 says the venv is that lock's, so a second run reads two small files.

Caddy, the example's load balancer, is built with Go at a pinned version into TOOLS_DIR/bin:
Debian's caddy package is built without Caddy's `tracing` handler, and the load balancer's spans
are what show which hop a request took.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from chaosctl.settings import Settings

from . import pins
from .install import Outcome, Say, _install_into, go_problem, installed_version

CADDY = pins.GoTool("caddy", "v2.10.2", ("version",), dev=True)
CADDY_PACKAGE = "github.com/caddyserver/caddy/v2/cmd/caddy"

COMPONENT = "mlserver (example model server)"
LOCK = Path(__file__).resolve().parents[3] / "examples" / "third-party-mlserver" / "requirements.lock"


def mlserver_venv(settings: Settings) -> Path:
    """Where the example's MLServer lives (its bin/mlserver is the server)."""
    return settings.tools_dir / "mlserver"


def _digest(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def mlserver_step(settings: Settings, say: Say, lock: Path = LOCK) -> Outcome:
    """The example system's parts: Caddy (Go build), then MLServer's venv; one outcome for both."""
    caddy = caddy_step(settings, say)
    if caddy.status == "missing":
        return caddy
    server = _mlserver_venv_step(settings, say, lock)
    return Outcome(server.component, server.status, f"{server.detail}; caddy: {caddy.detail}")


def caddy_step(settings: Settings, say: Say) -> Outcome:
    target = settings.tools_dir / "bin" / "caddy"
    # `caddy version` of a `go install` build says "unknown": a stamp beside it holds the version.
    stamp = target.with_name("caddy.version")
    if target.is_file() and (installed_version(CADDY, target) == CADDY.version
                             or (stamp.is_file() and stamp.read_text().strip() == CADDY.version)):
        return Outcome("caddy", "ok", f"{CADDY.version} already built ({target})")
    problem = go_problem()
    if problem:
        return Outcome("caddy", "missing", f"{problem}; then run `chaosctl setup --dev` again")
    say(f"building caddy {CADDY.version} with Go (the example's load balancer, with its tracing module)")

    def build(tmp: Path) -> Path:
        subprocess.run(["go", "install", f"{CADDY_PACKAGE}@{CADDY.version}"], env={**os.environ, "GOBIN": str(tmp)},
                       check=True)
        return tmp / "caddy"

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _install_into(target, build)
    except (subprocess.CalledProcessError, OSError) as exc:
        return Outcome("caddy", "missing", f"building {CADDY_PACKAGE}@{CADDY.version} failed: {exc}")
    stamp.write_text(CADDY.version + "\n")
    return Outcome("caddy", "installed", f"{CADDY.version} built into {target}")


def _mlserver_venv_step(settings: Settings, say: Say, lock: Path) -> Outcome:
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
