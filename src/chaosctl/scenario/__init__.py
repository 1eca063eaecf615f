"""The scenario language: load and validate scenario files, export the JSON Schema,
lay out the dry-run timeline.

Kept light on purpose (pydantic and ruamel.yaml only): `chaosctl validate`
must start fast and must not need the stack.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from chaosctl.errors import ScenarioInvalid, UsageError
from chaosctl.stack.topology import Topology

from .parse import load_scenario, parse_scenario
from .model import Scenario

__all__ = ["Scenario", "load_scenario", "parse_scenario", "validate_files"]


def validate_files(paths: Iterable[str | Path], topology: Topology | None = None) -> list[Scenario]:
    """Check each file: `FILE: ok` on stdout for good ones, every error line on stderr.

    Raises ScenarioInvalid (exit 2) naming how many files failed, after all of
    them were checked, so one run of `chaosctl validate` shows every problem.
    """
    good: list[Scenario] = []
    failed: list[str] = []
    for path in paths:
        try:
            good.append(load_scenario(path, topology))
        except (ScenarioInvalid, UsageError) as exc:  # a bad unit is a UsageError: said per file too
            failed.append(str(path))
            for line in exc.messages:
                print(line, file=sys.stderr)
            continue
        print(f"{path}: ok")
    sys.stdout.flush()
    if failed:
        raise ScenarioInvalid([f"{len(failed)} of {len(failed) + len(good)} scenario file(s) invalid: {', '.join(failed)}"])
    return good
