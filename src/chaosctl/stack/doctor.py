"""`chaosctl doctor`: which external components are found (path, version) and
how to get the missing ones. Exit 3 when a required one is missing (CHAOSCTL_REQUIRE
makes optional ones, e.g. chromium, required too). What a machine may lack for good
(a Docker engine, a CUDA device) is listed as "cannot run here: <reason>": the tests
that need it skip with that reason."""

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

from chaosctl.console import default_console, markup
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
    platform: bool = False  # a Docker engine, a CUDA device: absent means "cannot run here", not "install it"


BINARIES = (
    Tool("etcd", ("--version",)),
    Tool("etcdctl", ("version",)),
    Tool("prometheus", ("--version",)),
    Tool("redis-server", ("--version",)),  # the gateway's prediction cache
    Tool("chaosctl-kafka", ("--version",)),  # the event path's broker (Kafka's jars + launcher, chaosctl setup)
    Tool("java", ("-version",)),  # runs the broker
    Tool("toxiproxy-server", ("--version",)),
    Tool("jaeger", ("version",)),
    Tool("grafana-server", ("-v",), required=False),
    # Test-only (report.html screenshots); required when CHAOSCTL_REQUIRE names it.
    Tool("chromium", ("--version",), required=False),
    # Test-only (the Action and example workflow are linted with it): chaosctl setup --dev.
    Tool("actionlint", ("-version",), required=False),
    Tool("shellcheck", ("--version",), required=False),
)
TEST_ONLY_HOW = {"chromium": "test-only (report.html screenshots): chaosctl setup --dev (Debian package chromium)",
                 "shellcheck": "test-only (actionlint checks scripts with it): chaosctl setup --dev (Debian package shellcheck)"}


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
    how = HOW_TO_GET.get(tool.name, TEST_ONLY_HOW.get(tool.name, ""))
    required = tool.required or settings.requires(tool.name)
    if path is None:
        return Finding(tool.name, False, required, "not found", "-", how)
    return Finding(tool.name, True, required, str(path), version_of(tool, path), how)


def check_locust() -> Finding:
    how = "make setup (pip install -e '.[test]' installs locust into .venv)"
    if importlib.util.find_spec("locust") is None:
        return Finding("locust", False, True, "python module not importable", "-", how)
    return Finding("locust", True, True, "python module", importlib.metadata.version("locust"), how)


def check_docker() -> Finding:
    """Optional: the docker backend (and its tests) need a reachable engine."""
    from chaosctl.stack.docker import docker_engine_status  # the same answer the docker tests skip on

    how = "optional (docker backend): install Docker Engine and start dockerd"
    ok, why = docker_engine_status()
    return Finding("docker engine", ok, False, "reachable" if ok else why, why if ok else "-", how, platform=True)


# The libraries services/modelserver/cuda.py tries; probed here without importing services/
# (stack/ and services/ would import each other; .importlinter lists what may import what).
CUDART_NAMES = ("libcudart.so", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so.11")


def _cuda_devices() -> tuple[int, str]:
    """(device count, why none): what the model servers' CHAOSCTL_GPU=auto would find."""
    import ctypes
    import ctypes.util

    found = ctypes.util.find_library("cudart")
    for name in ([found] if found else []) + list(CUDART_NAMES):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        code = lib.cudaGetDeviceCount(ctypes.byref(count))
        if code != 0:
            return 0, f"cudaGetDeviceCount failed with CUDA error {code}"
        return count.value, "" if count.value else "the CUDA runtime reports 0 devices"
    return 0, "no CUDA runtime (libcudart not found)"


def check_cuda() -> Finding:
    """Optional: model servers use a real CUDA device when one is there (else a simulated one)."""
    how = "optional: a machine with an NVIDIA GPU, its driver and the CUDA runtime (libcudart)"
    count, why = _cuda_devices()
    if count < 1:
        return Finding("CUDA device", False, False, why, "-", how, platform=True)
    return Finding("CUDA device", True, False, "libcudart", f"{count} device(s)", how, platform=True)


def collect(settings: Settings) -> list[Finding]:
    return [*(check_binary(t, settings) for t in BINARIES), check_locust(), check_docker(), check_cuda()]


def render(findings: list[Finding], console: Console) -> None:
    table = Table(title="chaosctl doctor")
    for col in ("component", "status", "path / reason", "version", "how to get it"):
        table.add_column(col, overflow="fold")
    for f in findings:
        where = markup(f.where)  # paths and tool output: no markup, no control characters
        if f.found:
            status = "[green]found[/]"
        elif f.platform:
            status, where = "[yellow]absent[/]", f"cannot run here: {where}"
        else:
            status = "[red]missing[/]" if f.required else "[yellow]missing (optional)[/]"
        table.add_row(f.name, status, where, markup(f.version), "" if f.found else f.how_to_get)
    console.print(table)


def run_doctor(settings: Settings) -> list[Finding]:
    """Print the table; StackUnavailable (exit 3) when a required component is missing."""
    findings = collect(settings)
    render(findings, default_console())
    missing = [f.name for f in findings if f.required and not f.found]
    if missing:
        raise StackUnavailable("required components missing: " + ", ".join(missing) + " (run `chaosctl setup`; in a checkout `make setup` runs it)")
    return findings
