"""Link faults as Toxiproxy toxics: latency (+jitter), jitter, bandwidth, timeout,
reset-peer, slow-close, limit-data; each with `toxicity` and `direction`
(Toxiproxy's `stream`: upstream = client->server bytes, downstream = server->client).

The Toxiproxy client is in toxiproxy.py.

The toxic's name is derived from the fault id, so a revert (also from
`chaosctl recover`) deletes exactly the toxic this fault added and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from chaosctl.errors import FaultError

from .base import FaultContext, FaultRecord
from .toxiproxy import TOXIC_PREFIX, Toxic, ToxiproxyClient


def _ms(params: Mapping[str, Any], *names: str, default: float | None = None) -> float:
    """A duration param in seconds (as the scenario loader gives it) -> Toxiproxy milliseconds."""
    for n in names:
        if params.get(n) is not None:
            return float(params[n]) * 1000.0
    if default is None:
        raise FaultError(f"missing parameter {names[0]!r}")
    return default


def _first(params: Mapping[str, Any], *names: str) -> float:
    for n in names:
        if params.get(n) is not None:
            return float(params[n])
    raise FaultError(f"missing parameter {names[0]!r}")


def toxic_for(record: FaultRecord) -> Toxic:
    """Translate a link fault record into the Toxiproxy toxic that implements it."""
    p = record.params
    kind = record.type
    if kind in ("latency", "jitter"):
        ttype = "latency"
        attrs = {"latency": _ms(p, "latency", default=0.0), "jitter": _ms(p, "jitter", default=0.0)}
    elif kind == "bandwidth":  # KB/s, Toxiproxy's unit (the scenario loader converts)
        ttype, attrs = "bandwidth", {"rate": max(1.0, _first(p, "rate"))}
    elif kind == "timeout":
        ttype, attrs = "timeout", {"timeout": _ms(p, "timeout", default=0.0)}
    elif kind == "reset-peer":
        ttype, attrs = "reset_peer", {"timeout": _ms(p, "timeout", "after", default=0.0)}
    elif kind == "slow-close":
        ttype, attrs = "slow_close", {"delay": _ms(p, "delay", default=1000.0)}
    elif kind == "limit-data":
        ttype, attrs = "limit_data", {"bytes": _first(p, "bytes", "limit")}
    else:
        raise FaultError(f"not a link fault: {kind}")
    attrs = {k: float(round(v)) for k, v in attrs.items()}  # Toxiproxy takes whole numbers
    stream = str(p.get("direction") or p.get("stream") or "downstream")
    toxicity = float(p.get("toxicity", 1.0) if p.get("toxicity") is not None else 1.0)
    return Toxic(TOXIC_PREFIX + record.id, ttype, stream, toxicity, attrs)


@dataclass
class LinkFault:
    """A toxic on the System link's proxy: an existing Toxiproxy (the reference stack's), or
    the one chaosctl runs for the System's managed links (faults.proxyserver)."""

    record: FaultRecord
    ctx: FaultContext

    def _proxy(self) -> tuple[ToxiproxyClient, str]:
        return self.ctx.toxiproxy_for(self.ctx.link(self.record.target))

    @property
    def proxy(self) -> str:
        return self._proxy()[1]

    def inject(self) -> None:
        client, proxy = self._proxy()
        client.add_toxic(proxy, toxic_for(self.record))

    def verify(self) -> str:
        want = toxic_for(self.record)
        client, proxy = self._proxy()
        for t in client.toxics(proxy):
            if t.name == want.name:
                attrs = ", ".join(f"{k}={v:g}" for k, v in sorted(t.attributes.items()))
                return f"toxiproxy lists {t.type} on {proxy} ({t.stream}, toxicity {t.toxicity:g}, {attrs})"
        raise FaultError(f"{self.record.label}: toxic {want.name} is not listed by toxiproxy on {proxy}")

    def revert(self) -> None:
        link = self.ctx.link(self.record.target)
        if link.managed:
            from .proxyserver import running_managed

            if running_managed(self.ctx.settings, self.ctx.resolved_system) is None:
                return  # chaosctl's own proxy is gone, and its toxics with it
        client, proxy = self._proxy()
        client.remove_toxic(proxy, TOXIC_PREFIX + self.record.id)
