"""Run history on a temporary SQLite file: record, list, filter, migrate, refuse a corrupt file;
and the observed-value parser the history and the gates rely on."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
from report_sample import sample_report

from chaosctl.cli import exit_code_for
from chaosctl.errors import UsageError
from chaosctl.history import record_run
from chaosctl.history.record import build_record, git_revision
from chaosctl.history.store import MIGRATIONS, open_history
from chaosctl.history.values import parse_observed
from chaosctl.report.json import to_dict
from chaosctl.verdict.model import Check


def _report(scenario: str = "latency-injection", verdict: str = "fail", started: float = 1_790_000_000.0, checks=None):
    base = sample_report()
    return dataclasses.replace(base, scenario=scenario, verdict=verdict, started=started, ended=started + 120,
                               checks=base.checks if checks is None else checks)


@pytest.mark.parametrize("text, value, unit", [
    ("612 ms", 0.612, "seconds"), ("1.5 s", 1.5, "seconds"), ("99.73%", 0.9973, "ratio"),
    ("41.2 req/s", 41.2, "req/s"), ("0.8231", 0.8231, "number"), ("1.234e+03 ms", 1.234, "seconds"),
    ("no data", None, ""), ("612 ms (partial)", None, ""), ("nan ms", None, ""), ("", None, ""),
    ("gateway: upstream model-gpu-1 (71%)", None, ""), ("12 spans in 300 traces", None, ""),
])  # fmt: skip
def test_observed_values_read_back_only_plain_numbers(text: str, value: float | None, unit: str) -> None:
    got, got_unit = parse_observed(text)
    assert got_unit == unit
    assert got == pytest.approx(value) if value is not None else got is None


def test_record_keeps_every_check_and_share(tmp_path: Path) -> None:
    path = tmp_path / "h" / "history.sqlite3"
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text("metadata: {name: latency-injection}\n")
    rec = record_run(path, _report(), scenario_file=scenario_file, report_dir=tmp_path)
    with open_history(path) as h:
        got = h.get(rec.id)
    assert got == rec
    assert got.scenario == "latency-injection" and got.verdict == "fail" and got.system == "reference"
    assert len(got.scenario_hash or "") == 64
    p99 = got.check("slo", "fault p99", "fault")
    assert (p99.status, p99.value, p99.unit, p99.objective) == ("fail", pytest.approx(0.612), "seconds", "< 300ms")
    assert got.check("slo", "availability", "fault").value is None  # "no data" is not a number
    shares = {s.key: s.share for s in got.shares}
    assert shares[("fault", "gateway", "upstream model-gpu-1")] == pytest.approx(0.71)
    assert shares[("baseline", "gateway", "upstream model-gpu-1")] == pytest.approx(0.12)
    assert len(got.shares) == 6


def test_a_report_json_dict_and_a_run_report_give_the_same_record(tmp_path: Path) -> None:
    report = _report()
    a = build_record(report, run_id="x")
    b = build_record(to_dict(report), run_id="x")
    assert a == b


def test_list_filters_and_orders_newest_first(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    ids = [record_run(path, _report(s, v, 1_790_000_000.0 + i * 100)).id
           for i, (s, v) in enumerate([("a", "pass"), ("b", "fail"), ("a", "fail"), ("a", "pass")])]
    with open_history(path) as h:
        assert [r.id for r in h.runs()] == ids[::-1]
        assert [r.id for r in h.runs(scenario="a")] == [ids[3], ids[2], ids[0]]
        assert [r.id for r in h.runs(scenario="a", verdict="pass")] == [ids[3], ids[0]]
        assert [r.id for r in h.runs(limit=2)] == [ids[3], ids[2]]
        assert h.runs(scenario="nope") == []
        row = h.runs(limit=1)[0]
        assert (row.checks, row.failed) == (6, 2)
        assert h.last_pass("a", "reference").id == ids[3]
        assert h.last_pass("b", "reference") is None


def test_prefix_lookup_unique_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    a = record_run(path, _report(started=1_790_000_000.0))
    b = record_run(path, _report(started=1_790_000_000.0))  # same second: ids share the time prefix
    with open_history(path) as h:
        assert h.get(a.id).id == a.id
        assert h.get(b.id[:-1]).id == b.id
        with pytest.raises(UsageError, match="ambiguous"):
            h.get(a.id[:15])
        assert h.get("19990101") is None


def test_missing_file_is_empty_and_not_created_for_reading(tmp_path: Path) -> None:
    path = tmp_path / "none" / "history.sqlite3"
    with open_history(path, create=False) as h:
        assert h.runs() == []
    assert not path.exists()


def test_corrupt_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"this is not sqlite at all, just some bytes " * 200)
    with pytest.raises(UsageError) as exc:
        record_run(path, _report())
    assert str(path) in str(exc.value) and exit_code_for(exc.value) == 2
    with pytest.raises(UsageError, match="not a usable chaosctl history"):
        with open_history(path, create=False):
            pass


def test_foreign_sqlite_tables_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE runs (x INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(UsageError, match=str(path)):
        record_run(path, _report())


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    record_run(path, _report())
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(UsageError, match="newer than this chaosctl knows"):
        with open_history(path):
            pass


def test_migration_steps_run_in_order_and_keep_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    rec = record_run(path, _report())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)

    def v2(conn: sqlite3.Connection) -> None:  # a later release adding a column
        conn.execute("ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT ''")

    with open_history(path, steps=(*MIGRATIONS, v2)) as h:
        assert h.get(rec.id) == rec
        assert [r[1] for r in h.conn.execute("PRAGMA table_info(runs)")][-1] == "note"
        assert h.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1


def test_a_failing_migration_step_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    record_run(path, _report())

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE runs ADD COLUMN half TEXT")
        conn.execute("THIS IS NOT SQL")

    with pytest.raises(UsageError):
        with open_history(path, steps=(*MIGRATIONS, broken)):
            pass
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert "half" not in [r[1] for r in conn.execute("PRAGMA table_info(runs)")]


def test_git_revision_inside_and_outside_a_work_tree(tmp_path: Path) -> None:
    here = git_revision(Path(__file__).parent)  # this checkout
    assert here is None or len(here) == 40
    assert git_revision(tmp_path) is None  # a temp folder is in no work tree
    assert git_revision(tmp_path / "missing") is None


def test_checks_with_odd_observed_strings_are_kept_verbatim(tmp_path: Path) -> None:
    checks = (Check("slo", "[red]markup[/red]", "fault", "pass", "12 ms", "< 1s"),)
    rec = record_run(tmp_path / "h.sqlite3", _report(checks=checks))
    assert rec.checks[0].name == "[red]markup[/red]"


def test_trend_table_escapes_names_and_values(tmp_path: Path) -> None:
    from chaosctl.history.trend import build_trend
    from chaosctl.report.html import render

    checks = (Check("slo", "<script>x</script>", "fault", "pass", "12 ms", "< 1s"),)
    path = tmp_path / "h.sqlite3"
    runs = [record_run(path, _report(checks=checks, started=1_790_000_000.0 + i)) for i in range(2)]
    html = render(_report(checks=checks), build_trend(runs, runs[-1]))
    assert "Trend over the last 2 runs" in html and "<script>" not in html and "&lt;script&gt;x&lt;/script&gt; [fault]" in html


def test_trend_sparkline_follows_the_values(tmp_path: Path) -> None:
    from chaosctl.history.trend import build_trend
    from chaosctl.report.html import render

    path = tmp_path / "h.sqlite3"
    runs = [record_run(path, _report(checks=(Check("slo", "p99", "fault", "pass", obs, "< 1s"),), started=1_790_000_000.0 + i))
            for i, obs in enumerate(("100 ms", "no data", "300 ms", "200 ms"))]
    html = render(_report(), build_trend(runs, runs[-1]))
    # oldest left; the lowest value at the bottom (y = 20), the highest at the top (y = 2); "no data" is a gap
    assert '<polyline points="0.0,20.0 60.0,2.0 90.0,11.0"' in html
