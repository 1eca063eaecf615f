"""System file -> `System`, or `SystemInvalid` with one `FILE:LINE:COL: where: message` line per problem.

The same passes as scenarios (`chaosctl.scenario.parse`): the YAML with
positions (`yamlsrc`), literal secrets (`secrets.py`, before anything else
reads the data), the fields (pydantic, errors mapped to positions with
did-you-mean), then cross-field checks (duplicate names, links whose
endpoints are unknown).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chaosctl.errors import ScenarioInvalid, SystemInvalid
from chaosctl.scenario.messages import Located, error_lines, in_file_order, located
from chaosctl.scenario.yamlsrc import Positions, read_yaml

from .model import API_VERSION, KIND, System
from .secrets import secret_problems

Problem = tuple[tuple[Any, ...], str]


def _header_problems(data: Any, positions: Positions, source: str) -> list[str]:
    if not isinstance(data, dict):
        found = type(data).__name__ if data is not None else "nothing"
        return [f"{source}:1:1: a System is a mapping with apiVersion, kind, metadata, observability and slis; found {found}"]
    version = data.get("apiVersion")
    if version is None:
        line, col = positions.of(())
        return [f"{source}:{line + 1}:{col + 1}: missing apiVersion (expected {API_VERSION!r})"]
    if version != API_VERSION:
        line, col = positions.of(("apiVersion",))
        return [f"{source}:{line + 1}:{col + 1}: apiVersion: unsupported apiVersion {version!r}; this chaosctl reads {API_VERSION!r}"]
    if data.get("kind") != KIND:
        line, col = positions.of(("kind",))
        return [f"{source}:{line + 1}:{col + 1}: kind: expected {KIND!r}, found {data.get('kind')!r}"]
    return []


def _located(problems: list[Problem], positions: Positions, source: str) -> list[Located]:
    return [located(path, message, positions, source) for path, message in problems]


def _duplicates(items: list[Any], path: str, attr: str, what: str) -> list[Problem]:
    seen: set[Any] = set()
    out: list[Problem] = []
    for i, item in enumerate(items):
        value = getattr(item, attr)
        if value is None:
            continue
        if value in seen:
            out.append(((path, i, attr), f"duplicate {what} {value!r}"))
        seen.add(value)
    return out


def _file_problems(system: System, base: Path) -> list[Problem]:
    """Files the System points at (relative to it) must be there now: a JSON body, a CA bundle."""
    import json

    out: list[Problem] = []
    for i, req in enumerate(system.load.requests if system.load else ()):
        if req.json_file is None:
            continue
        path = base / req.json_file
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            out.append((("load", "requests", i, "json_file"), f"cannot read {path}: {exc.strerror or exc}"))
        except ValueError as exc:
            out.append((("load", "requests", i, "json_file"), f"{path} is not JSON: {exc}"))
    for name in ("prometheus", "jaeger", "grafana"):
        endpoint = getattr(system.observability, name)
        if endpoint is not None and endpoint.ca_file is not None and not (base / endpoint.ca_file).is_file():
            out.append((("observability", name, "ca_file"), f"no CA bundle at {base / endpoint.ca_file}"))
    return out


def cross_problems(system: System, base: Path | None = None) -> list[Problem]:
    """What the fields alone cannot say: names used twice, files that are not there (relative to `base`)."""
    components, links = list(system.components), list(system.links)
    return [
        *_duplicates(components, "components", "name", "component"),
        *_duplicates(links, "links", "name", "link"),
        *_duplicates(links, "links", "listen", "listen address (two links on one port)"),
        *(_file_problems(system, base) if base is not None else []),
    ]


def parse_system(data: Any, positions: Positions, source: str) -> System:
    """Validate already-read data (positions give the error lines their FILE:LINE:COL)."""
    header = _header_problems(data, positions, source)
    if header:
        raise SystemInvalid(header)
    secrets = secret_problems(data)
    if secrets:
        raise SystemInvalid(in_file_order(_located(secrets, positions, source)))
    try:
        system = System.model_validate(data)
    except ValidationError as exc:
        raise SystemInvalid(in_file_order(error_lines(exc.errors(), data, positions, source, root=System))) from None
    problems = cross_problems(system, Path(source).parent)
    if problems:
        raise SystemInvalid(in_file_order(_located(problems, positions, source)))
    return system


def load_system(path: str | Path) -> System:
    """Read, validate and return the System at `path`; SystemInvalid lists every problem."""
    try:
        data, positions = read_yaml(Path(path))
    except SystemInvalid:
        raise
    except ScenarioInvalid as exc:  # the YAML reader speaks of scenarios; the lines are the same
        raise SystemInvalid(exc.messages) from None
    return parse_system(data, positions, str(path))
