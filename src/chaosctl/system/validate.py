"""`chaosctl validate FILE...`: each file is checked by its `kind` (Scenario or System).

Every file is checked, every problem printed (FILE:LINE:COL on stderr, `FILE: ok`
on stdout), then one error names how many failed (exit 2).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from chaosctl.errors import ScenarioInvalid, UsageError
from chaosctl.scenario.types import closest
from chaosctl.scenario.yamlsrc import has_libyaml, read_yaml

from .fit import check_scenario

KINDS = ("Scenario", "System")


def validate_file(path: Path, system_path: Path | None = None, port_base: int | None = None) -> str:
    """Check one file; returns what it is (`Scenario` or `System`). Raises ScenarioInvalid/SystemInvalid.

    The file is parsed by libyaml first (read_yaml's `fast`: a third of the pure parser's
    instructions); a file with any problem is checked again from the pure parser, whose
    positions and messages are the ones every error line is made of."""
    if has_libyaml():
        try:
            return _validate_file(path, system_path, port_base, fast=True)
        except (ScenarioInvalid, UsageError):
            pass  # said again below, as the pure parser places it (nothing was printed yet)
    return _validate_file(path, system_path, port_base, fast=False)


def _validate_file(path: Path, system_path: Path | None, port_base: int | None, fast: bool) -> str:
    data, positions = read_yaml(path, fast=fast)
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "System":
        from .load import parse_system  # the System models load only for a System (fit.py)

        parse_system(data, positions, str(path))
        return "System"
    if isinstance(kind, str) and kind != "Scenario":
        line, col = positions.of(("kind",))
        guess = closest(kind, KINDS)
        hint = f" (did you mean {guess!r}?)" if guess else ""
        raise ScenarioInvalid([f"{path}:{line + 1}:{col + 1}: kind: unknown kind {kind!r}{hint}; chaosctl reads {' or '.join(KINDS)}"])
    scenario = check_scenario(data, positions, path, system_path, port_base)
    if not (scenario.slos or scenario.traces or scenario.steady_state):  # a warning: the file is valid, a run FAILs
        print(f"{path}: warning: nothing to judge (no slos, traces or steady_state): every run of it FAILs "
              "with 'nothing to judge'; add slos, traces or steady_state", file=sys.stderr)
    return "Scenario"


def validate_files(paths: Iterable[str | Path], system_path: Path | None = None, port_base: int | None = None) -> None:
    good, failed = 0, []
    for path in paths:
        try:
            validate_file(Path(path), system_path, port_base)
        except (ScenarioInvalid, UsageError) as exc:  # a --system that does not fit is said per file too
            failed.append(str(path))
            for line in exc.messages:
                print(line, file=sys.stderr)
            continue
        good += 1
        print(f"{path}: ok")
    sys.stdout.flush()
    if failed:
        raise ScenarioInvalid([f"{len(failed)} of {len(failed) + good} file(s) invalid: {', '.join(failed)}"])
