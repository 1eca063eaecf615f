"""The reference stack's regions: which model servers are where, and the standing cost of
crossing regions.

The gateway lives in region `LOCAL_REGION` ("a"). Its links into any other region ("b") carry a
latency toxic that the stack itself sets when Toxiproxy comes up (and again after a Toxiproxy
restart, which loses toxics): a cross-region call costs `REGION_B_LATENCY_S` more, on every
request, so a failover to region b has a real, measurable latency cost. The toxic's name has no
`chaosctl-` prefix: it is the stack's, not a fault's, and no revert or recover removes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaosctl.errors import StackUnavailable
from chaosctl.stack.topology import LOCAL_REGION, MODEL_SERVERS, REGION_B_LATENCY_S, Topology, region_of

if TYPE_CHECKING:  # pragma: no cover
    import httpx

STANDING_TOXIC = "region-b-latency"


def servers_in(region: str) -> tuple[str, ...]:
    return tuple(m.name for m in MODEL_SERVERS if m.region == region)


def standing_toxics(topo: Topology) -> list[tuple[str, dict[str, object]]]:
    """(proxy name, Toxiproxy toxic body) of every cross-region link of the gateway."""
    body: dict[str, object] = {
        "name": STANDING_TOXIC, "type": "latency", "stream": "downstream", "toxicity": 1.0,
        "attributes": {"latency": round(REGION_B_LATENCY_S * 1000), "jitter": 0},
    }
    return [
        (link.proxy_name, body)
        for link in topo.links
        if link.source == "gateway" and region_of(link.dest) not in (None, LOCAL_REGION)
    ]


def set_standing_toxics(client: httpx.Client, toxiproxy_url: str, topo: Topology) -> None:
    """Add the cross-region latency toxics (already there, 409: fine); StackUnavailable on failure."""
    import httpx

    for proxy, body in standing_toxics(topo):
        try:
            resp = client.post(f"{toxiproxy_url}/proxies/{proxy}/toxics", json=body, timeout=5.0)
        except httpx.HTTPError as exc:
            raise StackUnavailable(f"toxiproxy: the cross-region latency on {proxy} failed: {exc}") from exc
        if resp.status_code not in (200, 201, 409):
            raise StackUnavailable(
                f"toxiproxy: the cross-region latency on {proxy} failed: HTTP {resp.status_code} {resp.text[:200]}"
            )
