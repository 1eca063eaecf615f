"""Small hand-written fakes for the run engine's unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from chaosctl.errors import FaultError
from chaosctl.faults.base import FaultRecord


@dataclass
class FakeFault:
    """Records every call into a shared log; can be told to fail at a step."""

    record: FaultRecord
    log: list[str]
    fail_inject: bool = False
    fail_verify: bool = False
    fail_revert: bool = False
    injected: bool = False

    def inject(self) -> None:
        self.log.append(f"inject {self.record.id}")
        if self.fail_inject:
            raise FaultError(f"{self.record.id} inject failed")
        self.injected = True

    def verify(self) -> str:
        self.log.append(f"verify {self.record.id}")
        if self.fail_verify:
            raise FaultError(f"{self.record.id} did not land")
        return f"{self.record.id} in place"

    def revert(self) -> None:
        self.log.append(f"revert {self.record.id}")
        if self.fail_revert:
            raise FaultError(f"{self.record.id} revert failed")
        self.injected = False


def fake(fid: str, log: list[str], **kw: bool) -> FakeFault:
    return FakeFault(FaultRecord(fid, "latency", "link:gateway->model-gpu-1", {"latency": 0.2}), log, **kw)


@dataclass
class FakeClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakePrometheus:
    """Answers instant queries from a function of the fake clock's time."""

    clock: FakeClock
    series: dict[str, object] = field(default_factory=dict)  # expr -> callable(t) -> float | None
    queries: list[tuple[float, str]] = field(default_factory=list)

    def __call__(self, expr: str) -> float | None:
        self.queries.append((self.clock.now, expr))
        fn = self.series.get(expr)
        return fn(self.clock.now) if callable(fn) else None
