"""The dry-run timeline: phase offsets and fault in/out times."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from chaosctl.scenario import load_scenario
from chaosctl.scenario.timeline import build_timeline, render_timeline

ROOT = Path(__file__).resolve().parents[2]


def test_phase_offsets_accumulate_and_faults_follow_after_and_duration() -> None:
    timeline = build_timeline(load_scenario(ROOT / "scenarios" / "registry-node-loss.yaml"))
    assert [(p.name, p.start, p.end) for p in timeline.phases] == [
        ("baseline", 0.0, 20.0),
        ("member-loss", 20.0, 70.0),
        ("recovery", 70.0, 100.0),
    ]
    first, second = timeline.phases[1].faults
    assert (first.label, first.start, first.end) == ("process-kill registry-store[0]", 20.0, 70.0)
    assert (second.label, second.start, second.end) == ("process-kill registry-store[1]", 45.0, 60.0)
    assert timeline.total == 100.0


def test_events_are_in_time_order_faults_out_before_their_phase_ends() -> None:
    timeline = build_timeline(load_scenario(ROOT / "scenarios" / "latency-injection.yaml"))
    events = [(e.at, e.kind, e.phase) for e in timeline.events()]
    assert events == [
        (0.0, "phase-start", "baseline"),
        (30.0, "phase-end", "baseline"),
        (30.0, "phase-start", "fault"),
        (30.0, "fault-in", "fault"),
        (75.0, "fault-out", "fault"),
        (75.0, "phase-end", "fault"),
        (75.0, "phase-start", "recovery"),
        (105.0, "phase-end", "recovery"),
    ]


def test_to_json_is_plain_data() -> None:
    import json

    timeline = build_timeline(load_scenario(ROOT / "scenarios" / "compound-degradation.yaml"))
    data = json.loads(json.dumps(timeline.to_json()))
    degraded = data["phases"][1]
    assert degraded["name"] == "degraded" and degraded["start"] == 20.0
    pause = [f for f in degraded["faults"] if f["label"] == "process-pause model-cpu-1"][0]
    assert (pause["start"], pause["end"]) == (50.0, 60.0)


def test_render_shows_phases_offsets_and_faults() -> None:
    timeline = build_timeline(load_scenario(ROOT / "scenarios" / "gpu-exhaustion.yaml"))
    console = Console(record=True, width=200)
    render_timeline(timeline, console)
    text = console.export_text()
    for needle in ("gpu1-full", "+25s", "+55s", "gpu-exhaustion model-gpu-1 (memory 95%)", "gpu-exhaustion model-gpu-2", "gateway healthy"):
        assert needle in text
