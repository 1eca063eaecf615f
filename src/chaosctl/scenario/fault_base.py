"""What every fault spec has: a target, when it goes in and for how long, and whether its
effect must be confirmed. The specs themselves: faults.py (processes, links, GPUs, regions)
and request_faults.py (requests at the reference services, and the canary rollout)."""

# No `from __future__ import annotations` in model modules: pydantic would compile and eval each
# annotation string at class creation (a few % of `chaosctl validate`, benchmarks/validate_startup.py).

from typing import Optional

from pydantic import Field

from .types import Duration, Frozen


class FaultBase(Frozen):
    target: str = Field(description="a logical target from the topology, e.g. registry-store[0] or link:gateway->model-gpu-1")
    after: Duration = Field(0.0, description="when the fault goes in, from the start of its phase (default 0s)")
    duration: Optional[Duration] = Field(None, description="how long it stays (default: until the end of its phase)")
    expect_effect: bool = Field(
        False, description="fail the run unless the fault's effect is confirmed by what the system showed (docs/verdicts.md)"
    )

    @property
    def label(self) -> str:
        return f"{self.type} {self.target}"  # type: ignore[attr-defined]

    def describe(self) -> str:
        detail = self._detail()
        return f"{self.label} ({detail})" if detail else self.label

    def _detail(self) -> str:
        return ""
