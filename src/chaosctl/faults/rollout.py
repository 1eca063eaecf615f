"""canary-rollout: start a progressive canary rollout on the reference gateway for the fault's time.

Not a fault but a deployment event a scenario places in a phase, so that its faults land
mid-rollout: inject PUTs the rollout on the gateway's `/admin/rollouts/{model}` (the install's
admin token), verify reads it back, revert DELETEs it (the gateway's static canary rule routes
again). The controller itself is services/gateway/rollout.py. A gateway that is gone holds no
rollout (it lived in its memory), so a revert that cannot connect has nothing left to cancel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from chaosctl.errors import FaultError
from chaosctl.scenario.faults import rollout_weights

from .adminapi import admin_base, admin_call, service_gone
from .base import FaultContext, FaultRecord

ADMIN_PATH = "/admin/rollouts"
# The spec's parameter -> the admin API's field (durations are already seconds in the record).
BODY_FIELDS = (
    ("step_interval", "step_interval_s"), ("window", "window_s"), ("min_samples", "min_samples"),
    ("max_latency_ratio", "max_latency_ratio"), ("latency_slack", "latency_slack_s"),
    ("latency_min_samples", "latency_min_samples"), ("latency_warmup", "latency_warmup_s"),
)  # fmt: skip


def rollout_body(record: FaultRecord) -> dict[str, Any]:
    """The admin API's body (`services.gateway.rollout.RolloutStart`) for a record."""
    p = record.params
    try:
        steps = rollout_weights(str(p.get("steps") or "5%,25%,50%,100%"))
    except ValueError as exc:
        raise FaultError(f"{record.label}: {exc}") from None
    body: dict[str, Any] = {"stable": str(p.get("stable", "")), "canary": str(p.get("canary", "")), "steps": list(steps),
                            "auto_rollback": bool(p.get("auto_rollback", True))}  # fmt: skip
    for param, field in BODY_FIELDS:
        if p.get(param) is not None:  # a journal written before the parameter existed: the gateway's default
            body[field] = p[param]
    return body


@dataclass
class RolloutFault:
    record: FaultRecord
    ctx: FaultContext

    @property
    def url(self) -> str:
        base = admin_base(self.ctx.component(self.record.target), self.record.label)
        return f"{base}{ADMIN_PATH}/{self.record.params.get('model', '')}"

    def _call(self, method: str, **kw: Any) -> httpx.Response:
        return admin_call(self.ctx.http, method, self.url, self.record.label, who=self.record.target, **kw)

    def inject(self) -> None:
        self._call("PUT", json=rollout_body(self.record))

    def verify(self) -> str:
        status = self._call("GET").json()
        if status.get("canary") != self.record.params.get("canary"):
            raise FaultError(f"{self.record.label}: the gateway runs no rollout of {self.record.params.get('canary')}")
        return (f"{self.record.target}: rollout of {status.get('model')} {status.get('stable')} -> {status.get('canary')} "
                f"{status.get('state')} at {float(status.get('weight', 0)):.0%}")  # fmt: skip

    def revert(self) -> None:
        try:
            self._call("DELETE", missing_ok=True)
        except FaultError as exc:
            if not service_gone(exc):  # else the gateway is gone, and its rollout with it
                raise
