"""`chaosctl setup`: install the external components a run needs, skipping what is there.

* etcd, etcdctl, Prometheus (and, with --dev, Chromium): Debian packages, installed with
  apt-get when this user may (root, or sudo without a password prompt); otherwise the
  exact apt command is printed and the step counts as missing.
* Toxiproxy and Jaeger (and, with --dev, actionlint): built with Go at the pinned versions
  (setup/pins.py) into TOOLS_DIR/bin (CHAOSCTL_TOOLS_DIR, --tools-dir). Jaeger is built
  from the shipped go.mod/go.sum (package data), so its whole dependency graph is pinned.
  Go's own caches (GOMODCACHE, GOCACHE) are used as they are, so CI can cache them.
* Apache Kafka: its pinned Maven artifacts, fetched with Maven into TOOLS_DIR (setup/kafka.py).

Idempotent: a component whose binary answers with the pinned version is left alone, so a
second run only asks each binary its version (well under a second).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from chaosctl.errors import StackUnavailable
from chaosctl.settings import Settings
from chaosctl.stack.tools import find_tool

from . import pins
from .shipped import data_dir

VERSION_TIMEOUT = 10.0
Say = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    component: str
    status: str  # "ok" (already there), "installed", "missing"
    detail: str  # version, what was done, or why it is missing and the command that fixes it


def run_setup(settings: Settings, *, dev: bool = False, say: Say = print) -> list[Outcome]:
    """Install what is missing; StackUnavailable (exit 3) naming each component that could not be had."""
    bin_dir = settings.tools_dir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    outcomes = [_apt_step({**pins.APT_PACKAGES, **(pins.APT_DEV_PACKAGES if dev else {})}, say)]
    for tool in pins.GO_TOOLS:
        if tool.dev and not dev:
            continue
        outcomes.append(_go_step(tool, settings, say))
    from .kafka import kafka_step  # after the apt step: it needs java and mvn

    outcomes.append(kafka_step(settings, say))
    if dev:  # the third-party model server of examples/third-party-mlserver, in its own venv
        from .example_env import mlserver_step

        outcomes.append(mlserver_step(settings, say))
    for o in outcomes:
        say(f"{o.component}: {o.status}: {o.detail}")
    missing = [o for o in outcomes if o.status == "missing"]
    if missing:
        raise StackUnavailable("setup incomplete; missing: " + "; ".join(f"{o.component}: {o.detail}" for o in missing))
    return outcomes


# ---- Debian packages -------------------------------------------------------------------------

def _apt_step(wanted: dict[str, str], say: Say, euid: int | None = None) -> Outcome:
    names = ", ".join(wanted)
    missing = sorted({pkg for binary, pkg in wanted.items() if shutil.which(binary) is None})
    if not missing:
        return Outcome(names, "ok", "already installed")
    if shutil.which("apt-get") is None:
        return Outcome(names, "missing", f"no apt-get here: install {' '.join(missing)} (or their binaries) "
                                         "with this system's package manager, then run `chaosctl setup` again")
    sudo = _sudo_prefix(os.geteuid() if euid is None else euid)
    if sudo is None:
        return Outcome(names, "missing", f"not root and no password-less sudo: run `{pins.apt_command(missing, True)}`, "
                                         "then `chaosctl setup` again")
    say(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        proc = subprocess.run([*sudo, *argv], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            return Outcome(names, "missing", f"`{' '.join([*sudo, *argv])}` failed ({tail[0]}); "
                                             f"run `{pins.apt_command(missing, bool(sudo))}` yourself")
    return Outcome(names, "installed", f"apt-get install {' '.join(missing)}")


def _sudo_prefix(euid: int) -> list[str] | None:
    """[] as root, ["sudo", "-n"] when sudo works without a prompt, else None (cannot install)."""
    if euid == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


# ---- Go builds -------------------------------------------------------------------------------

def installed_version(tool: pins.GoTool, path: Path) -> str | None:
    """The version the binary at `path` reports (v-prefixed), None when it does not answer."""
    try:
        proc = subprocess.run([str(path), *tool.version_args], capture_output=True, text=True, timeout=VERSION_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = proc.stdout + proc.stderr
    if tool.binary == "jaeger":  # {"gitVersion":"v2.13.0",...} (other numbers around it are dates)
        found = re.search(r'"gitVersion"\s*:\s*"(v?[\d.]+)"', text)
    else:
        found = re.search(r"(\d+\.\d+\.\d+)", text)
    return "v" + found.group(1).lstrip("v") if found else None


def _go_step(tool: pins.GoTool, settings: Settings, say: Say) -> Outcome:
    target = settings.tools_dir / "bin" / tool.binary
    # The pinned version anywhere the stack looks (e.g. a checkout's .tools/bin) is as good as ours.
    for found in dict.fromkeys(p for p in (target, find_tool(tool.binary, settings)) if p is not None):
        if found.is_file() and installed_version(tool, found) == tool.version:
            return Outcome(tool.binary, "ok", f"{tool.version} already built ({found})")
    problem = go_problem()
    if problem:
        return Outcome(tool.binary, "missing", f"{problem}; then run `chaosctl setup` again")
    say(f"building {tool.binary} {tool.version} with Go" + (" (the first build takes several minutes)" if tool.binary == "jaeger" else ""))
    try:
        _BUILDERS[tool.binary](settings.tools_dir, target)
    except subprocess.CalledProcessError as exc:
        return Outcome(tool.binary, "missing", f"`{' '.join(map(str, exc.cmd))}` failed (exit {exc.returncode}, its output above)")
    return Outcome(tool.binary, "installed", f"{tool.version} built into {target}")


def go_problem() -> str | None:
    """Why Go cannot build the tools here, or None."""
    go = shutil.which("go")
    if go is None:
        return f"Go is not installed: install Go {'.'.join(map(str, pins.GO_MIN))} or newer (on CI: actions/setup-go)"
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    found = re.match(r"go(\d+)\.(\d+)", out)
    if found and (int(found.group(1)), int(found.group(2))) < pins.GO_MIN:
        return f"{out} is too old: install Go {'.'.join(map(str, pins.GO_MIN))} or newer"
    return None


def _install_into(target: Path, build: Callable[[Path], Path]) -> None:
    """Build into a temporary folder beside `target`, then move the binary in atomically
    (a second setup running at the same time never sees a half-written binary)."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        built = build(Path(tmp))
        os.replace(built, target)


def _build_toxiproxy(tools_dir: Path, target: Path) -> None:
    version = pins.TOXIPROXY_VERSION
    ldflags = f"-X {pins.TOXIPROXY_MODULE}.Version={version.lstrip('v')}"

    def build(tmp: Path) -> Path:
        pkgs = [f"{pins.TOXIPROXY_MODULE}/cmd/server@{version}", f"{pins.TOXIPROXY_MODULE}/cmd/cli@{version}"]
        subprocess.run(["go", "install", "-ldflags", ldflags, *pkgs], env={**os.environ, "GOBIN": str(tmp)}, check=True)
        os.replace(tmp / "cli", target.with_name("toxiproxy-cli"))
        return tmp / "server"

    _install_into(target, build)


def _build_jaeger(tools_dir: Path, target: Path) -> None:
    # A copy of the shipped module: site-packages may be read-only, and go may touch go.sum.
    module = tools_dir / "src" / "jaeger"
    module.mkdir(parents=True, exist_ok=True)
    for name in ("go.mod", "go.sum"):
        shutil.copyfile(data_dir("jaeger") / name, module / name)
    ldflags = f"-X github.com/jaegertracing/jaeger/internal/version.latestVersion={pins.JAEGER_VERSION}"

    def build(tmp: Path) -> Path:
        subprocess.run(["go", "build", "-ldflags", ldflags, "-o", str(tmp / "jaeger"), pins.JAEGER_PACKAGE],
                       cwd=module, check=True)
        return tmp / "jaeger"

    _install_into(target, build)


def _build_actionlint(tools_dir: Path, target: Path) -> None:
    def build(tmp: Path) -> Path:
        subprocess.run(["go", "install", f"{pins.ACTIONLINT_PACKAGE}@{pins.ACTIONLINT_VERSION}"],
                       env={**os.environ, "GOBIN": str(tmp)}, check=True)
        return tmp / "actionlint"

    _install_into(target, build)


_BUILDERS: dict[str, Callable[[Path, Path], None]] = {
    "toxiproxy-server": _build_toxiproxy,
    "jaeger": _build_jaeger,
    "actionlint": _build_actionlint,
}
