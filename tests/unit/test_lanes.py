"""`make test`'s two workers (tests/lanes.py): scopes, their order and the live port bases."""

from __future__ import annotations

from pathlib import Path

import pytest
from lanes import (
    DEFAULT_PORT_BASE,
    DURATIONS,
    LANE_STRIDE,
    lane_port_base,
    live_port_base,
    live_scope,
    read_durations,
    scope_order,
)


def test_unit_tests_are_one_scope_and_each_live_module_its_own() -> None:
    assert live_scope("tests/unit/test_a.py::test_x") == "unit"
    assert live_scope("tests/unit/test_b.py::C::test_y[1]") == "unit"
    assert live_scope("tests/integration/test_run_engine.py::test_x[a::b]") == "tests/integration/test_run_engine.py"
    assert live_scope("tests/integration/test_run_engine.py::test_y") == "tests/integration/test_run_engine.py"


def test_each_worker_has_its_own_live_port_base_far_enough_apart() -> None:
    assert lane_port_base(27000, "gw0") == 27000
    assert lane_port_base(27000, "gw1") == 30000
    assert lane_port_base(27000, "master") == 27000
    # region failover's own stack (+2600) with the autoscaler's replicas (+300..319) stays below the next lane
    assert 2600 + 319 < LANE_STRIDE


def test_units_first_then_the_longest_live_module_and_unmeasured_ones_count_as_long() -> None:
    seconds = {"tests/integration/a.py": 10.0, "tests/integration/b.py": 90.0}
    scopes = ["tests/integration/a.py", "unit", "tests/integration/new.py", "tests/integration/b.py"]
    assert scope_order(scopes, seconds) == ["unit", "tests/integration/new.py", "tests/integration/b.py",
                                            "tests/integration/a.py"]


def test_durations_file_lists_every_live_module_once(tmp_path: Path) -> None:
    seconds = read_durations(DURATIONS)
    modules = {f"tests/integration/{p.name}" for p in DURATIONS.parent.glob("test_*.py")}
    assert set(seconds) == modules, "tests/integration/durations.txt is out of date"
    bad = tmp_path / "d.txt"
    bad.write_text("# c\n12.5 tests/integration/x.py\n\n", encoding="utf-8")
    assert read_durations(bad) == {"tests/integration/x.py": 12.5}


@pytest.mark.parametrize("worker", ["gw0", "gw1", "gw2"])
def test_lane_bases_never_meet(worker: str) -> None:
    others = {lane_port_base(27000, w) for w in ("gw0", "gw1", "gw2") if w != worker}
    mine = lane_port_base(27000, worker)
    assert all(abs(mine - o) >= LANE_STRIDE for o in others)


def test_live_port_base_reads_the_environment_else_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAOSCTL_TEST_PORT_BASE", raising=False)
    assert live_port_base() == DEFAULT_PORT_BASE < 32768
    monkeypatch.setenv("CHAOSCTL_TEST_PORT_BASE", "20000")
    assert live_port_base() == 20000
