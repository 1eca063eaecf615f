"""`chaosctl --version`: chaosctl's version (from the installed metadata, i.e. pyproject.toml)
and the external components found, each asked for its version in parallel.

Kept light (no rich, no pydantic): it runs before any command would.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chaosctl.settings import Settings

TIMEOUT = 5.0
# binary -> the arguments that make it print its version
COMPONENTS: dict[str, tuple[str, ...]] = {
    "etcd": ("--version",),
    "etcdctl": ("version",),
    "prometheus": ("--version",),
    "toxiproxy-server": ("--version",),
    "jaeger": ("version",),
    "go": ("version",),
}


def chaosctl_version() -> str:
    try:
        return importlib.metadata.version("chaosctl")
    except importlib.metadata.PackageNotFoundError:  # run from a tree that was never installed
        return "unknown (not installed)"


def _ask(binary: str, path: Path) -> str:
    try:
        proc = subprocess.run([str(path), *COMPONENTS[binary]], capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"? ({type(exc).__name__})"
    text = proc.stdout + proc.stderr
    if binary == "jaeger":  # prints dates too; the release is its gitVersion
        found = re.search(r'"gitVersion"\s*:\s*"([^"]+)"', text)
    else:
        found = re.search(r"v?\d+\.\d+(?:\.\d+)?\S*", text)
    return found.group(1 if binary == "jaeger" else 0) if found else "?"


def version_lines(settings: Settings) -> list[str]:
    from chaosctl.stack.tools import find_tool

    lines = [f"chaosctl {chaosctl_version()}"]
    paths = {name: find_tool(name, settings) for name in COMPONENTS}
    found = {name: path for name, path in paths.items() if path is not None}
    with ThreadPoolExecutor(max_workers=len(COMPONENTS)) as pool:
        versions = dict(zip(found, pool.map(lambda item: _ask(*item), found.items())))
    for name, path in paths.items():
        lines.append(f"  {name:<17} {versions[name]:<12} {path}" if path else f"  {name:<17} not found (chaosctl setup)")
    return lines
