"""`chaosctl doctor`: which external components are found (path, version) and
how to get the missing ones. Exit 3 when a required one is missing."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from chaosctl.console import default_console
from chaosctl.errors import StackUnavailable
from chaosctl.settings import Settings
from chaosctl.stack.tools import HOW_TO_GET, find_tool

VERSION_TIMEOUT = 10.0


@dataclass(frozen=True)
class Tool:
    name: str
    version_args: tuple[str, ...]
    required: bool = True


@dataclass(frozen=True)
class Finding:
    name: str
    found: bool
    required: bool
    where: str  # path, or why it is missing / unreachable
    version: str
    how_to_get: str


BINARIES = (
    Tool("etcd", ("--version",)),
    Tool("etcdctl", ("version",)),
    Tool("prometheus", ("--version",)),
    Tool("toxiproxy-server", ("--version",)),
    Tool("jaeger", ("version",)),
    Tool("grafana-server", ("-v",), required=False),
)


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0][:80] if lines else "?"


def _run_version(path: Path, args: tuple[str, ...]) -> str:
    try:
        proc = subprocess.run([str(path), *args], capture_output=True, text=True, timeout=VERSION_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"? ({type(exc).__name__})"
    return proc.stdout + proc.stderr


# Go binaries built without version ldflags report "git" or nothing; their Go
# build info still names the module version they were built from.
GO_MODULES = {"toxiproxy-server": "github.com/Shopify/toxiproxy/v2", "jaeger": "github.com/jaegertracing/jaeger"}
# Jaeger's v2 releases are published as v1.x module tags (v1.76.0 = v2.13.0).
JAEGER_V2 = {"v1.76.0": "v2.13.0"}


def _go_module_version(path: Path, module: str) -> str | None:
    go = shutil.which("go")
    if go is None:
        return None
    try:
        out = subprocess.run([go, "version", "-m", str(path)], capture_output=True, text=True, timeout=VERSION_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(rf"^\s*(?:mod|dep)\s+{re.escape(module)}\s+(\S+)", out.stdout, re.M)
    return match.group(1) if match else None


def version_of(tool: Tool, path: Path) -> str:
    text = _run_version(path, tool.version_args)
    found = re.search(r"\d+\.\d+\.\d+\S*", text)
    if found and tool.name != "jaeger":  # jaeger prints other numbers (dates) around an empty version
        return found.group(0)
    module = GO_MODULES.get(tool.name)
    version = _go_module_version(path, module) if module else None
    if version is None:
        return _first_line(text)
    return f"{JAEGER_V2[version]} (module {version})" if version in JAEGER_V2 else version


def check_binary(tool: Tool, settings: Settings) -> Finding:
    path = find_tool(tool.name, settings)
    how = HOW_TO_GET.get(tool.name, "")
    if path is None:
        return Finding(tool.name, False, tool.required, "not found", "-", how)
    return Finding(tool.name, True, tool.required, str(path), version_of(tool, path), how)


def check_locust() -> Finding:
    how = "make setup (pip install -e '.[test]' installs locust into .venv)"
    if importlib.util.find_spec("locust") is None:
        return Finding("locust", False, True, "python module not importable", "-", how)
    return Finding("locust", True, True, "python module", importlib.metadata.version("locust"), how)


def check_docker() -> Finding:
    """Optional: the docker backend needs a reachable engine."""
    how = "optional (docker backend): install Docker Engine and start dockerd"
    try:
        import docker  # heavy: only here

        client = docker.from_env(timeout=3)
        try:
            version = client.version().get("Version", "?")
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return Finding("docker engine", False, False, f"not reachable ({type(exc).__name__})", "-", how)
    return Finding("docker engine", True, False, "reachable", str(version), how)


def collect(settings: Settings) -> list[Finding]:
    return [*(check_binary(t, settings) for t in BINARIES), check_locust(), check_docker()]


def render(findings: list[Finding], console: Console) -> None:
    table = Table(title="chaosctl doctor")
    for col in ("component", "status", "path / reason", "version", "how to get it"):
        table.add_column(col, overflow="fold")
    for f in findings:
        if f.found:
            status = "[green]found[/]"
        else:
            status = "[red]missing[/]" if f.required else "[yellow]missing (optional)[/]"
        table.add_row(f.name, status, f.where, f.version, "" if f.found else f.how_to_get)
    console.print(table)


def run_doctor(settings: Settings) -> list[Finding]:
    """Print the table; StackUnavailable (exit 3) when a required component is missing."""
    findings = collect(settings)
    render(findings, default_console())
    missing = [f.name for f in findings if f.required and not f.found]
    if missing:
        raise StackUnavailable("required components missing: " + ", ".join(missing) + " (run `make setup`)")
    return findings
