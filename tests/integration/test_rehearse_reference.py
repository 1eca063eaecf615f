"""`chaosctl run --rehearse` of a shipped scenario (smoke, its phases cut to 12 s) on the real
reference stack: no fault injected (the journal stays empty, Toxiproxy holds no toxic), every SLI, abort and trace
query of every phase answers: PASS. Then a rehearsal whose SLI cannot answer (a System
whose SLI selector matches no series) FAILs naming the query."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from _run_live import assert_clean, chaosctl, toxics_left, wait_serving

from chaosctl.system.reference import reference_data, to_yaml

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_rehearse_of_a_shipped_scenario_passes_on_the_reference_stack(stack, tmp_path: Path) -> None:
    wait_serving(stack.settings, stack.topology)
    t0 = time.monotonic()
    res = chaosctl(stack.settings, "run", str(_short_smoke(tmp_path)), "--rehearse", "--report-dir", str(tmp_path),
                   timeout=300)
    took = time.monotonic() - t0
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["scenario"] == "smoke-rehearsal" and report["verdict"] == "pass"
    kinds = {c["kind"] for c in report["checks"]}
    assert {"slo", "abort", "trace", "steady_state"} <= kinds, kinds
    traces = [c for c in report["checks"] if c["name"] == "rehearse traces: gateway"]
    assert len(traces) == 3 and all(not c["observed"].startswith("0 traces") for c in traces)
    assert toxics_left(stack.topology) == {}  # nothing was injected
    assert "inject" not in (stack.settings.journal_path.read_text() if stack.settings.journal_path.exists() else "")
    assert_clean(stack.settings, stack.backend, stack.topology)
    print(f"rehearse smoke on the reference stack: {took:.1f}s wall; "
          + next(n for n in report["notes"] if "overhead" in n))


def _short_smoke(folder: Path) -> Path:
    """The shipped smoke scenario with 12 s phases instead of the rehearsal's 20 s (saves 24 s): a
    rehearsal injects nothing, it asks the same SLI, abort and trace queries over the same three
    phases, and 12 scrapes of the stack's 1 s interval still let coverage be judged. (`run smoke`
    by name is test_wheel_install's, from the installed wheel.)"""
    raw = yaml.safe_load((ROOT / "scenarios" / "smoke.yaml").read_text())
    for phase in raw["phases"]:
        phase["duration"] = "12s"
    path = folder / "smoke-12s.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _one_phase_smoke(folder: Path) -> Path:
    """The shipped smoke scenario cut to its 12 s baseline (its SLOs on that phase and on "*"):
    the rehearsal below fails on its queries whatever the phases' length, and 12 scrapes of
    the stack's 1 s interval still let coverage be judged as in a full run."""
    raw = yaml.safe_load((ROOT / "scenarios" / "smoke.yaml").read_text())
    raw["phases"] = [{"name": "baseline", "duration": "12s"}]
    raw["slos"] = [s for s in raw["slos"] if s["phase"] in ("baseline", "*")]
    assert {s["sli"] for s in raw["slos"]} == {"latency_p99", "success_ratio"} and raw["abort"], raw
    path = folder / "smoke-baseline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_rehearse_fails_naming_an_sli_query_without_data(stack, tmp_path: Path) -> None:
    wait_serving(stack.settings, stack.topology)
    data = reference_data(stack.topology)
    data["slis"] = {"preset": "chaosctl-reference", "selector": 'route="/no/such/route"'}
    system = tmp_path / "wrong.system.yaml"
    system.write_text(to_yaml(data))
    res = chaosctl(stack.settings, "run", str(_one_phase_smoke(tmp_path)), "--rehearse", "--system", str(system),
                   "--report-dir", str(tmp_path / "r"), timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert failed and all(c["kind"] in ("slo", "abort") for c in failed), failed
    assert any('route="/no/such/route"' in c["reason"] and "SLI query returned" in c["reason"] for c in failed), failed
    assert {c["name"] for c in failed} >= {"baseline p99", "availability"}, failed
