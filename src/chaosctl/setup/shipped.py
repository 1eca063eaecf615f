"""The files chaosctl ships as package data, found from any working directory.

In a checkout, src/chaosctl/data/* are symlinks to the top-level scenarios/, systems/,
schemas/, dashboards/ and tools/jaeger/ (the one source of truth); a built wheel holds
copies of those files (pyproject's package-data). Either way they are read here through
importlib.resources, never relative to the current folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from chaosctl.errors import UsageError

KINDS = ("scenarios", "systems", "schemas", "dashboards", "jaeger")
_SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=\S+\n", re.M)
_LEADING_COMMENTS = re.compile(r"\A(?:#.*\n)+")


def data_dir(kind: str) -> Path:
    """The folder of shipped `kind` files (a real folder: chaosctl is never run from a zip)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of shipped data {kind!r}")
    import importlib.resources  # here: it imports tempfile, shutil, zipfile...; `validate FILE` never needs it

    path = Path(str(importlib.resources.files("chaosctl").joinpath("data", kind)))
    if not path.is_dir():  # an install built without its package data is broken, not "empty"
        raise FileNotFoundError(f"chaosctl's package data is missing: {path}")
    return path


@dataclass(frozen=True)
class ShippedScenario:
    name: str  # the file's stem, which is also its metadata.name (a test keeps them equal)
    description: str
    path: Path

    @property
    def package_path(self) -> str:
        """Where it is inside the package, e.g. chaosctl/data/scenarios/latency-injection.yaml."""
        return f"chaosctl/data/scenarios/{self.path.name}"


def shipped_scenarios() -> list[ShippedScenario]:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    out = []
    for path in sorted(data_dir("scenarios").glob("*.yaml")):
        meta = (yaml.load(path.read_text(encoding="utf-8")) or {}).get("metadata") or {}
        out.append(ShippedScenario(path.stem, str(meta.get("description", "")), path))
    return out


def resolve_scenario(arg: Path) -> Path:
    """`arg` itself when it exists (or looks like a path); else the shipped scenario of that name.

    A name that is neither stays as given, so the loader reports the missing file as before."""
    if arg.exists() or len(arg.parts) > 1:
        return arg
    name = arg.name.removesuffix(".yaml")
    candidate = data_dir("scenarios") / f"{name}.yaml"
    return candidate if candidate.is_file() else arg


STARTER_SCENARIO = "smoke"
STARTER_FILES = ("scenario.yaml", "system.yaml")


def _starter_texts() -> dict[str, str]:
    scenario = (data_dir("scenarios") / f"{STARTER_SCENARIO}.yaml").read_text(encoding="utf-8")
    system = (data_dir("systems") / "reference.system.yaml").read_text(encoding="utf-8")
    head = ("# Starter scenario written by `chaosctl init` (from the shipped `smoke`): one small fault under\n"
            "# light load. Check it: chaosctl validate scenario.yaml; run it: chaosctl up && chaosctl run scenario.yaml\n"
            "# Format: chaosctl schema (JSON Schema for editors: chaosctl schema > scenario-v1.json)\n")
    scenario = head + _LEADING_COMMENTS.sub("", scenario, count=1)
    scenario = re.sub(r"^  name: \S+$", "  name: my-first-scenario", scenario, count=1, flags=re.M)
    # Run it on the System next to it (edit system.yaml to describe your own deployment).
    scenario = re.sub(r"^kind: Scenario\n", "kind: Scenario\nsystem: ./system.yaml\n", scenario, count=1, flags=re.M)
    system = ("# Starter System written by `chaosctl init`: the reference stack (`chaosctl up`).\n"
              "# Describe your own deployment here (docs: system-format.md; `chaosctl discover` drafts one).\n"
              "# Editor schema: chaosctl schema --kind system > system-v1.json\n") + _SCHEMA_LINE.sub("", system, count=1)
    return {"scenario.yaml": scenario, "system.yaml": system}


def init_files(folder: Path, force: bool = False) -> list[Path]:
    """Write the starter scenario and System into `folder`; refuse to overwrite without force."""
    targets = {name: folder / name for name in STARTER_FILES}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not force:
        raise UsageError(f"{', '.join(existing)}: already there; nothing written (--force overwrites)")
    written = []
    for name, text in _starter_texts().items():
        targets[name].write_text(text, encoding="utf-8")
        written.append(targets[name])
    return written
