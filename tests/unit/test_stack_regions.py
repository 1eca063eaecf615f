"""The second region in the topology and the stack's standing cross-region latency."""

from __future__ import annotations

import json

import httpx
import pytest

from chaosctl.errors import StackUnavailable
from chaosctl.stack import regions
from chaosctl.stack.topology import LOCAL_REGION, MODEL_SERVERS, REGION_B_LATENCY_S, Topology, region_of

TOPO = Topology(23000)


def test_region_b_servers_take_the_model_server_slots_43_on_and_their_links_come_last():
    assert regions.servers_in("a") == ("model-gpu-1", "model-gpu-2", "model-cpu-1")
    assert regions.servers_in("b") == ("model-gpu-b1", "model-cpu-b1")
    assert [TOPO.model_server_port(n) - 23000 for n in regions.servers_in("b")] == [43, 44]
    names = [link.name for link in TOPO.links]
    # Existing links keep their ports: the cache's link is still right after region a's.
    assert TOPO.link("link:gateway->prediction-cache").listen_port == 23107
    assert names.index("link:gateway->model-gpu-b1") > names.index("link:gateway->prediction-cache")
    assert {m.device for m in MODEL_SERVERS if m.region == "b"} == {"gpu", "cpu"}
    assert region_of("model-gpu-b1") == "b" and region_of("model-gpu-1") == LOCAL_REGION and region_of("gateway") is None


def test_only_the_gateways_links_into_region_b_get_the_standing_latency():
    toxics = regions.standing_toxics(TOPO)
    proxies = {proxy for proxy, _ in toxics}
    assert proxies == {TOPO.link_to("gateway", n).proxy_name for n in regions.servers_in("b")}
    body = toxics[0][1]
    assert body["name"] == regions.STANDING_TOXIC and not str(body["name"]).startswith("chaosctl-")
    assert body["attributes"] == {"latency": round(REGION_B_LATENCY_S * 1000), "jitter": 0}
    assert 0.015 <= REGION_B_LATENCY_S <= 0.025


class FakeToxiproxy:
    """Toxiproxy's toxic endpoint: 409 for a toxic of a name it already holds."""

    def __init__(self, fail_with: int | None = None) -> None:
        self.toxics: dict[str, list[str]] = {}
        self.fail_with = fail_with

    def __call__(self, request: httpx.Request) -> httpx.Response:
        proxy = request.url.path.split("/")[2]
        if self.fail_with:
            return httpx.Response(self.fail_with, text="no such proxy")
        name = json.loads(request.content)["name"]
        held = self.toxics.setdefault(proxy, [])
        if name in held:
            return httpx.Response(409, json={"error": "toxic already exists"})
        held.append(name)
        return httpx.Response(200, json={"name": name})


def test_setting_the_standing_toxics_twice_is_fine_and_a_refusal_is_stack_unavailable():
    fake = FakeToxiproxy()
    with httpx.Client(transport=httpx.MockTransport(fake)) as client:
        regions.set_standing_toxics(client, "http://toxiproxy", TOPO)
        regions.set_standing_toxics(client, "http://toxiproxy", TOPO)  # a restarted stack's second up
    assert sorted(fake.toxics) == sorted(p for p, _ in regions.standing_toxics(TOPO))
    assert all(v == [regions.STANDING_TOXIC] for v in fake.toxics.values())
    with httpx.Client(transport=httpx.MockTransport(FakeToxiproxy(fail_with=404))) as client:
        with pytest.raises(StackUnavailable, match="cross-region latency"):
            regions.set_standing_toxics(client, "http://toxiproxy", TOPO)
