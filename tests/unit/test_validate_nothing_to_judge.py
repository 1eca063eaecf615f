"""`chaosctl validate` warns (exit 0) about a scenario that judges nothing: its runs FAIL."""

from __future__ import annotations

from chaosctl.system.validate import validate_files

BARE = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata: {name: bare}
load: {users: 1, spawn_rate: 1, requests: [{model: fraud-detector}]}
phases:
  - {name: baseline, duration: 1s}
"""


def test_validate_warns_but_accepts_a_scenario_with_nothing_to_judge(tmp_path, capsys):
    path = tmp_path / "bare.yaml"
    path.write_text(BARE)
    validate_files([path])  # no exception: a warning, not an error
    out, err = capsys.readouterr()
    assert f"{path}: ok" in out
    assert "warning: nothing to judge" in err and "add slos, traces or steady_state" in err


def test_validate_does_not_warn_when_the_scenario_has_an_slo(tmp_path, capsys):
    path = tmp_path / "judged.yaml"
    path.write_text(BARE + 'slos:\n  - {name: availability, sli: success_ratio, phase: "*", objective: ">= 99%"}\n')
    validate_files([path])
    assert "nothing to judge" not in capsys.readouterr().err
