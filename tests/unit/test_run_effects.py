"""runner.effects: fault rows judged from fake Jaeger/Prometheus answers, effect checks for
expect_effect, ttr objectives against the first phase's band."""

from __future__ import annotations

from pathlib import Path

from chaosctl.observe.jaeger import FetchResult
from chaosctl.runner.effects import fault_effects, ttr_checks
from chaosctl.scenario import load_scenario
from chaosctl.stack.topology import Topology
from chaosctl.verdict.model import FaultRow, PhaseWindow
from chaosctl.observe.spans import Span

SCENARIO = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata: {name: effects}
load: {users: 1, spawn_rate: 1, requests: [{model: fraud-detector}]}
phases:
  - {name: baseline, duration: 10s}
  - name: fault
    duration: 10s
    faults:
      - {type: latency, target: link:gateway->model-gpu-1, latency: 200ms, expect_effect: true}
      - {type: latency, target: link:gateway->model-cpu-1, latency: 200ms, expect_effect: true}
  - {name: recovery, duration: 10s}
slos:
  - {name: recovers, phase: recovery, objective: "ttr(latency_p99) < 5s", hold: 2s}
"""


def _calls(t0: float, n: int, hop_ms: float) -> list[Span]:
    out = []
    for i in range(n):
        s = int((t0 + 0.1 + i * 0.1) * 1e6)
        tid = f"{t0}-{i}"
        d = int((hop_ms + 5) * 1000)
        out += [Span(tid, tid + "r", None, "gateway", "POST /v1/models/m/predict", s, s + d + 100),
                Span(tid, tid + "u", tid + "r", "gateway", "upstream model-gpu-1", s + 10, s + 10 + d),
                Span(tid, tid + "s", tid + "u", "model-gpu-1", "POST", s + 20, s + 5020)]
    return out


class FakeJaeger:
    def __init__(self) -> None:
        self.spans = _calls(0.0, 60, 2.0) + _calls(10.0, 60, 202.0) + _calls(20.0, 60, 2.0)

    def fetch(self, service, start, end):
        return FetchResult(tuple(self.spans), 1, 0, 0.0)


class FakeProm:
    def __init__(self, p99: list[float]) -> None:
        self.p99 = p99

    def query_range(self, expr, start, end, step):
        return [(float(t), v) for t, v in enumerate(self.p99) if start <= t <= end]


def _scenario(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    return load_scenario(path, Topology(17000))


WINDOWS = [
    PhaseWindow("baseline", 0.0, 10.0),
    PhaseWindow("fault", 10.0, 20.0, ("latency link:gateway->model-gpu-1", "latency link:gateway->model-cpu-1"),
                (FaultRow("latency link:gateway->model-gpu-1", 10.05, 20.0), FaultRow("latency link:gateway->model-cpu-1", 10.05, 20.0))),
    PhaseWindow("recovery", 20.0, 30.0),
]


def test_rows_judged_and_expect_effect_fails_on_the_idle_link(tmp_path):
    windows, checks = fault_effects(_scenario(tmp_path), WINDOWS, FakeProm([]), FakeJaeger(), "gateway")
    gpu, cpu = windows[1].rows
    assert gpu.effect == "confirmed" and "+200.0 ms" in gpu.evidence
    assert cpu.effect == "not observed" and "carried no traffic" in cpu.evidence
    assert [(c.kind, c.status) for c in checks] == [("effect", "pass"), ("effect", "fail")]
    assert checks[1].observed == "not observed" and checks[1].objective == "confirmed"


def test_ttr_passes_and_fails_when_the_phase_ends_first(tmp_path):
    scenario = _scenario(tmp_path)
    p99 = [0.05] * 10 + [0.3] * 10 + [0.3, 0.3, 0.3, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]
    (ok,) = ttr_checks(scenario, WINDOWS, FakeProm(p99))
    assert ok.status == "pass" and ok.observed == "3.0s" and ok.objective == "ttr(latency_p99) < 5s"
    short = [*WINDOWS[:2], PhaseWindow("recovery", 20.0, 24.0)]
    (bad,) = ttr_checks(scenario, short, FakeProm(p99))
    assert bad.status == "fail" and "not recovered within 4 s" in bad.reason
    (none,) = ttr_checks(scenario, WINDOWS, FakeProm([]))
    assert none.status == "fail" and "no latency_p99 data" in none.reason
    (slow,) = ttr_checks(scenario, WINDOWS, FakeProm(p99[:20] + [0.3] * 6 + [0.05] * 5))
    assert slow.status == "fail" and slow.observed == "6.0s"


def test_ttr_whose_phase_never_ran_fails_instead_of_vanishing(tmp_path):
    """An aborted run ends before `recovery`: the objective is a FAIL in the report, not dropped."""
    scenario = _scenario(tmp_path)
    p99 = [0.05] * 20
    (missing,) = ttr_checks(scenario, WINDOWS[:2], FakeProm(p99))
    assert missing.status == "fail" and missing.name == "recovers" and missing.phase == "recovery"
    assert missing.reason == "phase 'recovery' never ran" and missing.observed == "not run"


def test_fault_rows_in_every_report(tmp_path):
    from chaosctl.report import json as report_json
    from chaosctl.report import console, md
    from chaosctl.report.junit import to_xml
    from chaosctl.report.model import RunReport

    windows, checks = fault_effects(_scenario(tmp_path), WINDOWS, FakeProm([]), FakeJaeger(), "gateway")
    report = RunReport("effects", "fail", 0.0, 30.0, tuple(windows), tuple(checks))
    raw = report_json.to_dict(report)
    gpu = raw["phases"][1]["faults"][0]
    assert gpu["label"] == "latency link:gateway->model-gpu-1" and gpu["effect"] == "confirmed"
    assert gpu["injected_at"] == 10.05 and gpu["reverted_at"] == 20.0 and "+200.0 ms" in gpu["evidence"]
    report_json.write(report, tmp_path)
    assert report_json.load(tmp_path) == report
    text = md.render(report)
    assert "not observed" in text and "carried no traffic" in text
    xml = to_xml(report).decode()
    assert "effect" in xml and "not observed" in xml
    shown = console.render_text(report) if hasattr(console, "render_text") else ""
    assert not shown or "confirmed" in shown


def test_ttr_marked_on_the_latency_chart(tmp_path):
    from chaosctl.report import html
    from chaosctl.report.model import RunReport, ttr_marks
    from chaosctl.verdict.model import Series

    scenario = _scenario(tmp_path)
    p99 = [0.05] * 10 + [0.3] * 10 + [0.3, 0.3, 0.3, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]
    checks = tuple(ttr_checks(scenario, WINDOWS, FakeProm(p99)))
    report = RunReport("effects", "pass", 0.0, 30.0, tuple(WINDOWS), checks,
                       series=(Series("latency p99 (s)", tuple((float(t), v) for t, v in enumerate(p99))),))
    assert ttr_marks(report) == ((23.0, "recovered +3s"),)
    assert "recovered +3s" in html.render(report)
    failed = RunReport("effects", "fail", 0.0, 30.0, tuple(WINDOWS), tuple(ttr_checks(scenario, WINDOWS, FakeProm([]))))
    assert ttr_marks(failed) == ()


def test_rows_judged_with_the_systems_link_names(tmp_path):
    from chaosctl.system.reference import reference_system

    system = reference_system(Topology(17000))
    windows, checks = fault_effects(_scenario(tmp_path), WINDOWS, FakeProm([]), FakeJaeger(), "gateway", system)
    assert [r.effect for r in windows[1].rows] == ["confirmed", "not observed"]


def test_ttr_without_a_revert_fails_after_asking_the_query(tmp_path):
    plain = [PhaseWindow("baseline", 0.0, 10.0), PhaseWindow("fault", 10.0, 20.0), PhaseWindow("recovery", 20.0, 30.0)]
    (c,) = ttr_checks(_scenario(tmp_path), plain, FakeProm([0.05] * 31))
    assert c.status == "fail" and c.observed == "no revert" and "nothing to recover from" in c.reason
