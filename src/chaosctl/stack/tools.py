"""Finding the external binaries: `settings.tool_dirs` first, then PATH."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from chaosctl.errors import StackUnavailable
from chaosctl.settings import Settings
from chaosctl.setup.pins import (ACTIONLINT_VERSION, APT_PACKAGES, GO_MIN, JAEGER_VERSION, KAFKA_LAUNCHER, KAFKA_VERSION,
                                 TOXIPROXY_VERSION, apt_command)

GO_MIN_TEXT = ".".join(map(str, GO_MIN))

# How to get each binary when it is missing (shown by `up` and `doctor`): `chaosctl setup`
# installs all of them (setup/pins.py pins the versions; `make setup` runs it in a checkout).
HOW_TO_GET = {
    **{binary: f"chaosctl setup (Debian package {pkg}; as a user who cannot install: {apt_command([pkg], True)})"
       for binary, pkg in APT_PACKAGES.items()},
    "toxiproxy-server": f"chaosctl setup (builds Toxiproxy {TOXIPROXY_VERSION} with Go {GO_MIN_TEXT}+ into the tools "
    "folder's bin/: CHAOSCTL_TOOLS_DIR or --tools-dir)",
    "jaeger": f"chaosctl setup (builds Jaeger {JAEGER_VERSION} all-in-one with Go {GO_MIN_TEXT}+ into the tools folder's bin/)",
    "actionlint": f"chaosctl setup --dev (builds actionlint {ACTIONLINT_VERSION} with Go into the tools folder's bin/)",
    KAFKA_LAUNCHER: f"chaosctl setup (fetches Apache Kafka {KAFKA_VERSION}'s Maven artifacts with mvn into the tools "
    "folder and writes its launcher bin/chaosctl-kafka; needs java and mvn)",
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
