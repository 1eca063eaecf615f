"""Finding the external binaries: `settings.tool_dirs` first, then PATH."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from chaosctl.errors import StackUnavailable
from chaosctl.settings import Settings

# How to get each binary when it is missing (shown by `up` and `doctor`).
HOW_TO_GET = {
    "etcd": "make setup (Debian package etcd-server: apt-get install etcd-server)",
    "etcdctl": "make setup (Debian package etcd-client: apt-get install etcd-client)",
    "prometheus": "make setup (Debian package prometheus: apt-get install prometheus)",
    "toxiproxy-server": "make setup (go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0, "
    "into .tools/bin as toxiproxy-server)",
    "jaeger": "make setup (go build in tools/jaeger: Jaeger v2 all-in-one, into .tools/bin/jaeger)",
    "grafana-server": "optional: apt-get install grafana (from the Grafana apt repository)",
}


def find_tool(name: str, settings: Settings) -> Path | None:
    """The executable `name` from the tool dirs, else from PATH; None when missing."""
    for folder in settings.tool_dirs:
        cand = Path(folder) / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    found = shutil.which(name)
    return Path(found) if found else None


def require_tool(name: str, settings: Settings) -> Path:
    path = find_tool(name, settings)
    if path is None:
        raise StackUnavailable(f"{name} not found in {_where(settings)}; get it with: {HOW_TO_GET.get(name, name)}")
    return path


def _where(settings: Settings) -> str:
    dirs = [str(d) for d in settings.tool_dirs]
    return ", ".join([*dirs, "PATH"])
