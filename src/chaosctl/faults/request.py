"""request-abort / request-delay: faults on matching requests only.

On the reference gateway or a reference model server the fault is a rule set over the
service's `/admin/request-faults` API (the install's admin token, `X-Admin-Token`); the
rule's id is the fault's id, so `recover` removes exactly it. The service applies it
after routing (`services.request_faults`). On a System link the fault runs chaosctl's
HTTP fault proxy in the link's path (`faults/httpproxy.py`).

Rules live in the service's memory: a service that is gone (connection refused) holds
none, so a revert that cannot connect has nothing left to remove.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from chaosctl.errors import FaultError

from .adminapi import admin_base, admin_call, service_gone
from .base import FaultContext, FaultRecord

ADMIN_PATH = "/admin/request-faults"


def rule_body(record: FaultRecord) -> dict[str, Any]:
    """The rule a record stands for, in the admin API's shape (`services.request_faults.RuleBody`)."""
    p = record.params
    raw = p.get("match")
    try:
        match = json.loads(str(raw)) if raw else {}
    except ValueError:
        raise FaultError(f"{record.label}: its match is not valid JSON: {raw!r}") from None
    if not isinstance(match, dict):
        raise FaultError(f"{record.label}: its match is not a mapping: {raw!r}")
    out_match = {k: match[k] for k in ("model", "version", "path") if match.get(k) is not None}
    if match.get("header"):
        out_match["headers"] = {str(k): str(v) for k, v in dict(match["header"]).items()}
    body: dict[str, Any] = {"percent": float(p.get("percent", 1.0) or 0.0), "match": out_match}
    if record.type == "request-abort":
        return {"action": "abort", "status": int(p.get("status", 503) or 503), **body}
    return {"action": "delay", "delay": float(p.get("delay") or 0.0), **body}


def describe_rule(rule: dict[str, Any]) -> str:
    what = f"abort {rule.get('status')}" if rule.get("action") == "abort" else f"delay {rule.get('delay')}s"
    m = rule.get("match") or {}
    scope = ", ".join(f"{k} {v}" for k, v in m.items() if v) or "every request"
    return f"{what} for {float(rule.get('percent', 1.0)):.0%} of {scope}"


@dataclass
class AdminRuleFault:
    record: FaultRecord
    ctx: FaultContext

    @property
    def url(self) -> str:
        return f"{admin_base(self.ctx.component(self.record.target), self.record.label)}{ADMIN_PATH}"

    def _call(self, method: str, path: str = "", **kw: Any) -> httpx.Response:
        return admin_call(self.ctx.http, method, self.url + path, self.record.label, who=self.record.target, **kw)

    def inject(self) -> None:
        self._call("PUT", f"/{self.record.id}", json=rule_body(self.record))

    def verify(self) -> str:
        rules = self._call("GET").json().get("rules", [])
        rule = next((r for r in rules if isinstance(r, dict) and r.get("id") == self.record.id), None)
        if rule is None:
            raise FaultError(f"{self.record.label}: rule {self.record.id} is not active on {self.record.target}")
        return f"{self.record.target}: rule {self.record.id} active ({describe_rule(rule)})"

    def revert(self) -> None:
        try:
            self._call("DELETE", f"/{self.record.id}")
        except FaultError as exc:
            if not service_gone(exc):  # else the service is gone, and its rules with it
                raise
