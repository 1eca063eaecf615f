"""Scenario file -> `Scenario`, or `ScenarioInvalid` with one
`FILE:LINE:COL: where: message` line per problem.

Three passes, each reporting every problem it finds: the YAML itself
(yamlsrc.py), the fields (pydantic, errors mapped back to positions), and the
cross-field checks (checks.py: phases named by SLOs and traces, units, buckets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chaosctl.errors import ScenarioInvalid
from chaosctl.stack.topology import Topology

from . import checks
from .messages import Located, error_lines, in_file_order, located
from .model import API_VERSION, KIND, Scenario
from .yamlsrc import Positions, read_yaml


def _header_problems(data: Any, positions: Positions, source: str) -> list[str]:
    """Refuse what is not a chaosctl/v1 scenario before looking at any field."""
    if not isinstance(data, dict):
        found = type(data).__name__ if data is not None else "nothing"
        return [f"{source}:1:1: a scenario is a mapping with apiVersion, kind, metadata, load and phases; found {found}"]
    version = data.get("apiVersion")
    if version == API_VERSION:
        return []
    if version is None:
        line, col = positions.of(())
        return [f"{source}:{line + 1}:{col + 1}: missing apiVersion (expected {API_VERSION!r})"]
    line, col = positions.of(("apiVersion",))
    return [f"{source}:{line + 1}:{col + 1}: apiVersion: unsupported apiVersion {version!r}; this chaosctl reads {API_VERSION!r}"]


def _problem_lines(problems: list[checks.Problem], positions: Positions, source: str) -> list[Located]:
    return [located(path, message, positions, source) for path, message in problems]


def parse_scenario(data: Any, positions: Positions, source: str, topology: Topology | None = None) -> Scenario:
    """Validate already-read data (positions give the error lines their FILE:LINE:COL)."""
    topology = topology or Topology()
    header = _header_problems(data, positions, source)
    if header:
        raise ScenarioInvalid(header)
    if data.get("kind") != KIND:
        line, col = positions.of(("kind",))
        raise ScenarioInvalid([f"{source}:{line + 1}:{col + 1}: kind: expected {KIND!r}, found {data.get('kind')!r}"])
    references = checks.reference_problems(data)
    try:
        scenario = Scenario.model_validate(data, context={"topology": topology})
    except ValidationError as exc:
        lines = error_lines(exc.errors(), data, positions, source) + _problem_lines(references, positions, source)
        raise ScenarioInvalid(in_file_order(lines)) from None
    problems = references + checks.problems(scenario, topology)
    if problems:
        raise ScenarioInvalid(in_file_order(_problem_lines(problems, positions, source)))
    return scenario


def load_scenario(path: str | Path, topology: Topology | None = None) -> Scenario:
    """Read, validate and return the scenario at `path`; ScenarioInvalid lists every problem."""
    data, positions = read_yaml(Path(path))
    return parse_scenario(data, positions, str(path), topology)
