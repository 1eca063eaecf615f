"""Seeded schedules: the documented draw, the fit check, errors with FILE:LINE:COL,
`--dry-run` identical across runs, and report.json carrying seed + drawn faults."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from chaosctl.errors import ScenarioInvalid
from chaosctl.report import json as report_json
from chaosctl.report.model import RunReport
from chaosctl.scenario import load_scenario
from chaosctl.scenario.schedule import schedules_of
from chaosctl.scenario.timeline import build_timeline

LINKS = ["link:gateway->model-gpu-1", "link:gateway->model-gpu-2"]
TEMPLATE = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata: {{name: seeded}}
load:
  users: 2
  spawn_rate: 2
  requests: [{{model: fraud-detector}}]
phases:
  - name: baseline
    duration: 10s
  - name: chaos
    duration: {phase}
    schedule:
      seed: {seed}
      count: {count}
      min_gap: 5s
      faults:
        - type: latency
          targets: [{links}]
          latency: 200ms
          duration: 8s
        - type: process-pause
          targets: [model-cpu-1]
          {extra}duration: 5s
"""


def write(tmp_path: Path, seed: int = 42, count: int = 3, phase: str = "60s", links: str = ", ".join(LINKS), extra: str = "") -> Path:
    path = tmp_path / f"seeded-{seed}-{count}.yaml"
    path.write_text(TEMPLATE.format(seed=seed, count=count, phase=phase, links=links, extra=extra))
    return path


def expected_draw(seed: int, count: int, phase: float = 60.0, gap: float = 5.0) -> list[tuple[str, str, float]]:
    """The order docs/scenario-format.md promises, written out independently of schedule.py."""
    templates = [("latency", LINKS, 8.0), ("process-pause", ["model-cpu-1"], 5.0)]
    rng = random.Random(seed)
    picks = []
    for _ in range(count):
        kind, targets, held = templates[rng.randrange(len(templates))]
        picks.append((kind, targets[rng.randrange(len(targets))], held))
    slack = phase - sum(p[2] for p in picks) - (count - 1) * gap
    points = sorted(rng.uniform(0.0, slack) for _ in range(count))
    out, used = [], 0.0
    for i, ((kind, target, held), point) in enumerate(zip(picks, points)):
        out.append((kind, target, round(point + used + i * gap, 3)))
        used += held
    return out


@pytest.mark.parametrize("seed", [0, 7, 42, 2**31])
def test_draw_follows_the_documented_order(tmp_path: Path, seed: int) -> None:
    phase = load_scenario(write(tmp_path, seed=seed)).phase("chaos")
    drawn = [(f.type, f.target, f.after) for f in phase.scheduled_faults]
    assert drawn == expected_draw(seed, 3)
    assert phase.faults == phase.scheduled_faults  # expanded into the phase's ordinary faults


def test_same_seed_same_schedule_other_seed_another(tmp_path: Path) -> None:
    first = load_scenario(write(tmp_path, seed=5)).phase("chaos").faults
    again = load_scenario(write(tmp_path / ".." / tmp_path.name, seed=5)).phase("chaos").faults
    assert first == again
    others = {load_scenario(write(tmp_path, seed=s)).phase("chaos").faults for s in range(6, 12)}
    assert len(others - {first}) >= 5


@pytest.mark.parametrize("seed", range(40))
def test_drawn_faults_fit_the_phase_and_keep_min_gap(tmp_path: Path, seed: int) -> None:
    faults = load_scenario(write(tmp_path, seed=seed, count=4, phase="50s")).phase("chaos").faults
    assert len(faults) == 4
    for fault in faults:
        assert fault.duration in (8.0, 5.0)
        assert 0.0 <= fault.after and fault.after + fault.duration <= 50.0 + 1e-9
    for before, after in zip(faults, faults[1:]):
        assert after.after - (before.after + before.duration) >= 5.0 - 0.002  # ms rounding


def test_count_that_cannot_fit_is_refused_at_the_phase(tmp_path: Path) -> None:
    path = write(tmp_path, count=6)  # 6 x 8s + 5 x 5s = 73s > 60s
    with pytest.raises(ScenarioInvalid) as err:
        load_scenario(path)
    (line,) = err.value.lines if hasattr(err.value, "lines") else str(err.value).splitlines()
    assert line.startswith(f"{path}:11:5: phases[1]") and "need 1m13s" in line and "lasts 1m" in line


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        ({"links": "link:gateway->model-gpu-9"}, ":18:11:", "unknown link target 'link:gateway->model-gpu-9'"),
        ({"extra": "after: 3s\n          "}, ":22:11:", "has no `after`"),
        ({"links": "link:gateway->model-gpu-1, link:gateway->model-gpu-1"}, ":18:11:", "lists a target twice"),
    ],
)
def test_bad_template_is_named_with_file_line_col(tmp_path: Path, change: dict, where: str, words: str) -> None:
    path = write(tmp_path, **change)
    with pytest.raises(ScenarioInvalid) as err:
        load_scenario(path)
    text = str(err.value)
    assert f"{path}{where}" in text and words in text


def _dry_run(path: Path) -> str:
    cli = Path(sys.executable).parent / "chaosctl"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(path.parent), "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.run([str(cli), "run", str(path), "--dry-run"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_dry_run_prints_the_same_schedule_on_every_run(tmp_path: Path) -> None:
    path = write(tmp_path, seed=1234)
    first, second = _dry_run(path), _dry_run(path)
    assert first == second
    assert "seed 1234, 3 faults drawn" in first
    rows = [line for line in first.splitlines() if "(seed 1234)" in line]
    assert [next(t for t in (*LINKS, "model-cpu-1") if t in row) for row in rows] == [t for _, t, _ in expected_draw(1234, 3)]
    starts = [f.start for f in build_timeline(load_scenario(path)).phases[1].faults]
    assert starts == [10.0 + after for _, _, after in expected_draw(1234, 3)]


def test_report_json_records_seed_and_drawn_schedule(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, seed=99))
    report = RunReport("seeded", "fail", 0.0, 70.0, (), (), schedules=schedules_of(scenario))
    path = report_json.write(report, tmp_path)
    back = report_json.load(path)
    chaos = back.schedules["chaos"]
    assert chaos["seed"] == 99 and chaos["count"] == 3 and chaos["min_gap"] == 5.0
    assert [(d["label"].split()[1], d["after"]) for d in chaos["drawn"]] == [(t, a) for _, t, a in expected_draw(99, 3)]


def test_a_rehearsal_draws_nothing_and_records_no_schedule(tmp_path: Path) -> None:
    from chaosctl.runner.rehearse import rehearsal_scenario

    rehearsal = rehearsal_scenario(load_scenario(write(tmp_path, seed=3)))
    assert rehearsal.phase("chaos").scheduled_faults == () and schedules_of(rehearsal) == {}
    assert build_timeline(rehearsal).phases[1].schedule is None
