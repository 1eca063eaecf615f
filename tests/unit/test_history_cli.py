"""`chaosctl history` and `chaosctl compare` in-process (cli.main, real argument parsing and exit
codes), and the run path's recording (execute_and_publish with a small fake run)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from report_sample import sample_report

from chaosctl import cli
from chaosctl.history import record_run
from chaosctl.history.store import open_history
from chaosctl.report import write_reports
from chaosctl.verdict.model import BottleneckRow, Check

T0 = 1_790_000_000.0


def run_cli(args: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["chaosctl", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("CHAOSCTL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("CHAOSCTL_HISTORY", raising=False)
    return tmp_path


def _pair():
    """A run and its regressed successor: p99 up, availability down to a fail, upstream share up."""
    a = dataclasses.replace(sample_report(), scenario="reg", verdict="pass", checks=(
        Check("slo", "fault p99", "fault", "pass", "200 ms", "< 300ms"),
        Check("slo", "availability", "fault", "pass", "99.90%", ">= 99.50%"),
    ))
    b_rows = tuple(dataclasses.replace(r, critical_path_share=0.9) if r.operation == "upstream model-gpu-1" else r
                   for r in a.bottlenecks["fault"])
    b = dataclasses.replace(a, verdict="fail", started=T0 + 500, ended=T0 + 620, checks=(
        Check("slo", "fault p99", "fault", "pass", "250 ms", "< 300ms"),
        Check("slo", "availability", "fault", "fail", "98.00%", ">= 99.50%", "98.00% is not >= 99.50%"),
        Check("slo", "new check", "fault", "pass", "5", "< 10"),
    ), bottlenecks={**a.bottlenecks, "fault": b_rows})
    return a, b


def test_history_lists_filters_and_escapes_markup(env: Path, capsys, monkeypatch) -> None:
    path = env / "state" / "history.sqlite3"
    a, b = _pair()
    ra = record_run(path, a)
    rb = record_run(path, dataclasses.replace(b, scenario="[bold]odd[/bold]"))
    code, out, err = run_cli(["history"], capsys, monkeypatch)
    assert code == 0, err
    assert ra.id in out and rb.id in out and "[bold]odd[/bold]" in out  # shown verbatim, not as markup
    code, out, _ = run_cli(["history", "--verdict", "pass", "--json"], capsys, monkeypatch)
    assert [r["id"] for r in json.loads(out)["runs"]] == [ra.id]
    code, out, _ = run_cli(["history", "--scenario", "reg", "--limit", "5", "--json"], capsys, monkeypatch)
    assert [r["id"] for r in json.loads(out)["runs"]] == [ra.id]
    code, _, err = run_cli(["history", "--verdict", "great"], capsys, monkeypatch)
    assert code == 2 and "--verdict 'great'" in err


def test_no_terminal_escapes_from_names(env: Path, capsys, monkeypatch) -> None:
    path = env / "state" / "history.sqlite3"
    a = _pair()[0]
    ra = record_run(path, a)
    rc = record_run(path, dataclasses.replace(a, checks=(Check("slo", "\x1b[31mred\x1b[0m", "fault", "pass", "1 ms"),)))
    code, out, _ = run_cli(["compare", ra.id, rc.id], capsys, monkeypatch)
    assert code == 0 and "[31mred[0m" in out and "\x1b" not in out


def test_history_option_and_environment_choose_the_file(env: Path, capsys, monkeypatch) -> None:
    other = env / "ci-cache" / "h.sqlite3"
    rec = record_run(other, _pair()[0])
    code, out, _ = run_cli(["history", "--json", "--history", str(other)], capsys, monkeypatch)
    assert [r["id"] for r in json.loads(out)["runs"]] == [rec.id]
    monkeypatch.setenv("CHAOSCTL_HISTORY", str(other))
    code, out, _ = run_cli(["history", "--json"], capsys, monkeypatch)
    assert json.loads(out)["history"] == str(other) and len(json.loads(out)["runs"]) == 1


def test_compare_run_ids_deltas_and_status_changes(env: Path, capsys, monkeypatch) -> None:
    path = env / "state" / "history.sqlite3"
    a, b = _pair()
    ra, rb = record_run(path, a), record_run(path, b)
    code, out, err = run_cli(["compare", ra.id, rb.id, "--json"], capsys, monkeypatch)
    assert code == 0, err
    result = json.loads(out)
    assert (result["a"]["id"], result["b"]["id"]) == (ra.id, rb.id)
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["fault p99"]["delta"] == pytest.approx(0.05)
    assert checks["fault p99"]["delta_pct"] == pytest.approx(0.25)
    assert checks["fault p99"]["status_change"] == ""
    assert checks["availability"]["delta"] == pytest.approx(-0.019)
    assert checks["availability"]["status_change"] == "pass -> fail"
    assert checks["new check"]["status_change"] == "absent -> pass" and checks["new check"]["delta"] is None
    shares = {(s["phase"], s["operation"]): s for s in result["critical_path"]}
    assert shares[("fault", "upstream model-gpu-1")]["delta"] == pytest.approx(0.9 - 0.71)
    assert shares[("baseline", "upstream model-gpu-1")]["delta"] == pytest.approx(0.0)
    code, out, _ = run_cli(["compare", ra.id, rb.id], capsys, monkeypatch)
    assert code == 0 and "+50 ms" in out and "+25.0%" in out and "pass -> fail" in out and "+19.0 pts" in out


def test_compare_report_folders_without_history(env: Path, capsys, monkeypatch) -> None:
    a, b = _pair()
    write_reports(a, env / "ra")
    write_reports(b, env / "rb")
    code, out, err = run_cli(["compare", str(env / "ra"), str(env / "rb" / "report.json"), "--json"], capsys, monkeypatch)
    assert code == 0, err
    assert {c["name"]: c["delta"] for c in json.loads(out)["checks"]}["fault p99"] == pytest.approx(0.05)
    assert not (env / "state" / "history.sqlite3").exists()


def test_compare_unknown_run_and_corrupt_history_exit_2_naming_them(env: Path, capsys, monkeypatch) -> None:
    code, _, err = run_cli(["compare", "nope", "nope2"], capsys, monkeypatch)
    assert code == 2 and "'nope'" in err and "Traceback" not in err
    bad = env / "bad.sqlite3"
    bad.write_bytes(b"\x00garbage" * 300)
    for args in (["history"], ["compare", "x", "y"]):
        code, _, err = run_cli([*args, "--history", str(bad)], capsys, monkeypatch)
        assert code == 2 and str(bad) in err and "Traceback" not in err


class _FakeRun:
    """What execute_and_publish asks of a Run: execute, failure, scenario, settings, system."""

    def __init__(self, report, scenario, settings, system: str = "reference") -> None:
        self.report, self.scenario, self.settings = report, scenario, settings
        self.system = SimpleNamespace(name=system)

    def execute(self, guard):  # noqa: ANN001
        return self.report

    def failure(self, report):  # noqa: ANN001
        return None


def test_the_run_path_gates_records_and_draws_the_trend(tmp_path: Path) -> None:
    from test_history_gate import _report, _scenario

    from chaosctl.runner.entry import execute_and_publish
    from chaosctl.runner.signals import SignalGuard
    from chaosctl.settings import Settings

    settings = Settings(state_dir=tmp_path / "state")
    source = tmp_path / "gate.yaml"
    source.write_text("# the scenario file whose hash is recorded\n")
    codes = []
    for i, p99 in enumerate(("100 ms", "105 ms", "150 ms")):
        with SignalGuard() as guard:
            codes.append(execute_and_publish(_FakeRun(_report(p99, started=T0 + 100 * i), _scenario(), settings),
                                             tmp_path / f"r{i}", guard, source=source))
    assert codes == ["pass", "pass", "fail"]  # the third regresses > 10% against the second (the last pass)
    with open_history(settings.history_path) as h:
        runs = h.runs()
    assert [r.verdict for r in runs] == ["fail", "pass", "pass"]
    assert runs[0].report_dir == str((tmp_path / "r2").resolve()) and runs[0].scenario_hash
    on_disk = json.loads((tmp_path / "r2" / "report.json").read_text())
    assert on_disk["verdict"] == "fail"
    html = (tmp_path / "r2" / "report.html").read_text()
    assert "Trend over the last 3 runs" in html and "150 ms" in html and runs[2].id in html
    assert "Trend" not in (tmp_path / "r0" / "report.html").read_text()  # one run is no trend


def test_the_run_path_gates_and_records_per_system(tmp_path: Path) -> None:
    """A pass on System "fast" is no baseline for System "slow": each is recorded under its
    own name and gated only against its own last pass."""
    from test_history_gate import _report, _scenario

    from chaosctl.history.gate import NO_BASELINE
    from chaosctl.runner.entry import execute_and_publish
    from chaosctl.runner.signals import SignalGuard
    from chaosctl.settings import Settings

    settings = Settings(state_dir=tmp_path / "state")
    codes = []
    for i, (system, p99) in enumerate((("fast", "100 ms"), ("slow", "300 ms"), ("slow", "310 ms"), ("fast", "150 ms"))):
        with SignalGuard() as guard:
            codes.append(execute_and_publish(_FakeRun(_report(p99, started=T0 + 100 * i), _scenario(), settings, system),
                                             tmp_path / f"r{i}", guard))
    # slow's first run has no baseline of its own (fast's 100 ms is not one); its second is within 10%;
    # fast's second regresses against fast's own last pass
    assert codes == ["pass", "pass", "pass", "fail"]
    gated = json.loads((tmp_path / "r1" / "report.json").read_text())["checks"][0]
    assert gated["reason"] == NO_BASELINE
    with open_history(settings.history_path) as h:
        assert sorted(r.system for r in h.runs()) == ["fast", "fast", "slow", "slow"]


def test_a_history_failure_never_fails_the_run(tmp_path: Path) -> None:
    from test_history_gate import _report, _scenario

    from chaosctl.runner.entry import execute_and_publish
    from chaosctl.runner.signals import SignalGuard
    from chaosctl.settings import Settings

    blocker = tmp_path / "file"
    blocker.write_text("a file where the history's folder should be")
    settings = Settings(state_dir=tmp_path / "state", history_file=blocker / "h.sqlite3")
    scenario = _scenario("< 1s")  # no gate: only the recording can fail
    with SignalGuard() as guard:
        code = execute_and_publish(_FakeRun(dataclasses.replace(_report("100 ms"), verdict="pass",
                                                                checks=(Check("slo", "p99 abs", "fault", "pass", "1 ms"),)),
                                            scenario, settings), tmp_path / "r", guard)
    assert code == "pass" and (tmp_path / "r" / "report.json").exists()


def test_bottleneck_rows_with_nan_are_recorded_as_missing(tmp_path: Path) -> None:
    report = dataclasses.replace(sample_report(), bottlenecks={"fault": (
        BottleneckRow("gateway", "op", float("nan"), 1.0, 1.0, 1.0, 1.0, 10),)})
    rec = record_run(tmp_path / "h.sqlite3", report)
    assert rec.shares[0].share is None
