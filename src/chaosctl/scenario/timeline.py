"""The dry-run timeline: when each phase runs and when each fault goes in and out.

`build_timeline` is plain data (offsets in seconds from the start of the
first phase); `render_timeline` prints it with rich. `chaosctl run --dry-run`
uses both and touches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .model import Scenario
from .schedule import schedule_json
from .units import format_duration

if TYPE_CHECKING:
    from rich.console import Console

EventKind = Literal["phase-start", "fault-in", "fault-out", "phase-end"]
_ORDER = {"fault-out": 0, "phase-end": 1, "phase-start": 2, "fault-in": 3}  # at equal offsets: faults out, then the phase ends


@dataclass(frozen=True)
class FaultSlot:
    label: str  # "latency link:gateway->model-gpu-1"
    description: str  # with its parameters
    type: str
    target: str
    start: float
    end: float


@dataclass(frozen=True)
class PhaseSlot:
    name: str
    start: float
    end: float
    faults: tuple[FaultSlot, ...]
    schedule: dict[str, Any] | None = None  # seed + drawn faults (schedule.schedule_json) when the phase has one

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class TimelineEvent:
    at: float
    kind: EventKind
    phase: str
    what: str


@dataclass(frozen=True)
class Timeline:
    scenario: str
    phases: tuple[PhaseSlot, ...]
    steady_state: tuple[str, ...]  # probe names, checked before the first and after the last phase
    abort: tuple[str, ...]

    @property
    def total(self) -> float:
        return self.phases[-1].end if self.phases else 0.0

    def events(self) -> list[TimelineEvent]:
        out: list[TimelineEvent] = []
        for phase in self.phases:
            out.append(TimelineEvent(phase.start, "phase-start", phase.name, phase.name))
            out.append(TimelineEvent(phase.end, "phase-end", phase.name, phase.name))
            for fault in phase.faults:
                out.append(TimelineEvent(fault.start, "fault-in", phase.name, fault.description))
                out.append(TimelineEvent(fault.end, "fault-out", phase.name, fault.label))
        return sorted(out, key=lambda e: (e.at, _ORDER[e.kind]))

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "total": self.total,
            "phases": [
                {
                    "name": p.name,
                    "start": p.start,
                    "end": p.end,
                    "faults": [{"label": f.label, "description": f.description, "start": f.start, "end": f.end} for f in p.faults],
                    **({"schedule": p.schedule} if p.schedule else {}),
                }
                for p in self.phases
            ],
            "steady_state": list(self.steady_state),
            "abort": list(self.abort),
        }


def build_timeline(scenario: Scenario) -> Timeline:
    phases: list[PhaseSlot] = []
    offset = 0.0
    for phase in scenario.phases:
        end = offset + phase.duration
        faults = []
        drawn = phase.scheduled_faults
        for i, spec in enumerate(phase.faults):
            start = offset + spec.after
            stop = min(end, start + spec.duration) if spec.duration is not None else end
            seeded = f" (seed {phase.schedule.seed})" if phase.schedule and drawn and i >= len(phase.faults) - len(drawn) else ""
            faults.append(FaultSlot(spec.label, spec.describe() + seeded, spec.type, spec.target, start, stop))
        schedule = schedule_json(phase.schedule, drawn) if phase.schedule and drawn else None
        phases.append(PhaseSlot(phase.name, offset, end, tuple(faults), schedule))
        offset = end
    return Timeline(
        scenario=scenario.name,
        phases=tuple(phases),
        steady_state=tuple(p.name for p in scenario.steady_state),
        abort=tuple(a.label for a in scenario.abort),
    )


def _at(seconds: float) -> str:
    return "+" + format_duration(seconds)


def render_timeline(timeline: Timeline, console: "Console | None" = None) -> None:
    """A rich table: each phase with its offsets, one row per fault with its in/out offsets.

    Names come from the scenario file: `markup()` shows `[bold]` or `[/]` as written.
    """
    from rich.table import Table

    from chaosctl.console import default_console, markup

    console = console or default_console()
    table = Table(title=f"{markup(timeline.scenario)}: dry run, {format_duration(timeline.total)} of phases", title_justify="left")
    for column in ("phase", "start", "end", "in", "out"):
        table.add_column(column, no_wrap=True)
    table.add_column("fault")
    for phase in timeline.phases:
        first = (markup(phase.name), _at(phase.start), _at(phase.end))
        if not phase.faults:
            table.add_row(*first, "", "", "-")
        for i, fault in enumerate(phase.faults):
            table.add_row(*(first if i == 0 else ("", "", "")), _at(fault.start), _at(fault.end), markup(fault.description))
        table.add_section()
    console.print(table)
    probes = ", ".join(markup(p) for p in timeline.steady_state) or "none"
    console.print(f"steady state (before the first and after the last phase): {probes}")
    console.print(f"abort conditions (while faults are in place): {', '.join(markup(a) for a in timeline.abort) or 'none'}")
    for phase in timeline.phases:
        if phase.schedule:  # the seed is what replays a failure: say it plainly
            s = phase.schedule
            console.print(
                f"schedule in {phase.name}: seed {s['seed']}, {s['count']} faults drawn "
                f"(min_gap {format_duration(s['min_gap'])}); the same seed draws the same schedule",
                markup=False,  # names come from the scenario file
            )
