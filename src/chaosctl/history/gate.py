"""Regression gates: SLOs whose objective is relative to the last passing run (`<= last_pass + 10%`).

The SLO judge (verdict/slo.py) measures the value but cannot know the history: a
LastPassObjective's threshold is NaN there, so its check comes out FAIL. Once the run's SLO
values are known, `judge_last_pass` re-judges exactly those checks against the same check
(kind, name, phase) in the newest passing run of the same scenario on the same System, and
recomputes a pass/fail verdict (an aborted or error run keeps its verdict).

- The current value missing or partial: the check stays FAIL with its own reason.
- No earlier passing run (or it has no value for this check: the check is new): PASS with the
  reason "no earlier passing run: baseline recorded" - the first run of a gate can only
  establish the baseline, and its absolute SLOs still judge it. `--require-baseline`
  (CHAOSCTL_REQUIRE_BASELINE) makes it FAIL instead, for pipelines whose history must exist.
- The history unreadable: FAIL, the reason names the file.
- Units differ (the SLI changed): FAIL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from chaosctl.errors import ChaosctlError
from chaosctl.scenario.objective import LastPassObjective
from chaosctl.verdict.model import Check

from .model import RunRecord
from .record import REFERENCE_SYSTEM
from .store import open_history
from .values import parse_observed, show

if TYPE_CHECKING:
    from chaosctl.report.model import RunReport
    from chaosctl.scenario.model import SLO, Scenario
    from chaosctl.settings import Settings

NO_BASELINE = "no earlier passing run: baseline recorded"


@dataclasses.dataclass(frozen=True)
class Baseline:
    """What the gate compares with: the last passing run, or why there is none."""

    run: RunRecord | None
    problem: str = ""  # the history could not be read


def gated(scenario: "Scenario") -> dict[str, "SLO"]:
    return {slo.name: slo for slo in scenario.slos if isinstance(slo.objective, LastPassObjective)}


def find_baseline(history_path: Path, scenario: str, system: str = REFERENCE_SYSTEM) -> Baseline:
    try:
        with open_history(history_path, create=False) as history:
            return Baseline(history.last_pass(scenario, system))
    except ChaosctlError as exc:
        return Baseline(None, str(exc))


def judge_last_pass(report: "RunReport", scenario: "Scenario", settings: "Settings",
                    echo: Callable[[str], None] = print, system: str = REFERENCE_SYSTEM) -> "RunReport":
    """The report with its last_pass checks judged and its pass/fail verdict recomputed, against
    the last pass on the same System (`system`: its name; a pass elsewhere is no baseline)."""
    specs = gated(scenario)
    if not specs:
        return report
    base = find_baseline(settings.history_path, scenario.name, system)
    if base.run is not None:
        echo(f"regression gates: comparing with run {base.run.id} (last pass of {scenario.name})")
    checks = tuple(_judge_safely(c, specs[c.name].objective, base, settings.require_baseline)  # type: ignore[arg-type]
                   if c.kind == "slo" and c.name in specs else c for c in report.checks)
    verdict = report.verdict
    if verdict in ("pass", "fail"):  # aborted/error say more than the checks do
        verdict = "pass" if all(c.passed for c in checks) else "fail"
    return dataclasses.replace(report, checks=checks, verdict=verdict)


def _judge_safely(check: Check, obj: LastPassObjective, base: Baseline, require_baseline: bool) -> Check:
    """A bug here must not cost the run its reports: the gate then FAILs with the error as reason."""
    try:
        return judge_check(check, obj, base, require_baseline)
    except Exception as exc:  # noqa: BLE001 - never a pass, never a lost report
        return dataclasses.replace(check, status="fail", objective=obj.describe(),
                                   reason=f"regression gate not judged: {type(exc).__name__}: {exc}")


def _other_reasons(check: Check) -> str:
    """The judge's reason without its placeholder comparison against NaN (keeps e.g. the clients' note)."""
    parts = [p for p in check.reason.split("; ") if p and not p.startswith(f"{check.observed} is not ")]
    return "; ".join(parts)


def judge_check(check: Check, obj: LastPassObjective, base: Baseline, require_baseline: bool) -> Check:
    value, unit = parse_observed(check.observed)
    if value is None:  # no data, partial: the judge already failed it and said why
        return dataclasses.replace(check, status="fail", objective=obj.describe())
    extra = _other_reasons(check)

    def verdict(ok: bool, objective: str, why: str) -> Check:
        reason = "; ".join(p for p in (why, extra) if p)
        return dataclasses.replace(check, status="pass" if ok else "fail", objective=objective, reason=reason)

    if base.problem:
        return verdict(False, obj.describe(), f"no last_pass value: {base.problem}")
    last = base.run.check(check.kind, check.name, check.phase) if base.run is not None else None
    if last is None or last.value is None:
        why = NO_BASELINE if base.run is None else f"the last passing run {base.run.id} has no value for this check: baseline recorded"
        if require_baseline:
            return verdict(False, obj.describe(), why.replace("baseline recorded", "a baseline is required (--require-baseline)"))
        return verdict(True, obj.describe(), why)
    if last.unit != unit:
        return verdict(False, obj.describe(), f"the last passing run {base.run.id} measured this in {last.unit}, this run in {unit}")
    bound = obj.bound(last.value)
    objective = f"{obj.describe()} (= {show(bound, unit)}; last pass {last.observed} in run {base.run.id})"
    ok = obj.holds(value, last.value)
    return verdict(ok, objective, "" if ok else f"{check.observed} is not {obj.op} {show(bound, unit)} "
                                               f"(last passing run {base.run.id}: {last.observed})")
