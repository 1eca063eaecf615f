"""region-partition: scenario validation (FILE:LINE:COL), inject/verify/revert on a fake Toxiproxy
(reference stack and a user System with region labels), recover from the journal, the effect rule."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from chaosctl.errors import FaultError, ScenarioInvalid, SystemInvalid
from chaosctl.faults.base import FaultContext, FaultRecord
from chaosctl.faults.catalogue import build_fault, fault_from_record
from chaosctl.faults.link import ToxiproxyClient
from chaosctl.observe.spans import Span
from chaosctl.scenario import load_scenario
from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology
from chaosctl.system.fit import load_scenario_for_system
from chaosctl.system.load import load_system
from chaosctl.verdict.effect import CONFIRMED, INCONCLUSIVE, NOT_OBSERVED, FaultFacts, Observed, judge

SCENARIO = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata: {{name: rp}}
load: {{users: 1, spawn_rate: 1, requests: [{{model: fraud-detector}}]}}
phases:
  - name: cut
    duration: 10s
    faults:
      - type: region-partition
        {field}
"""


def _write(tmp_path: Path, field: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(field=field))
    return path


def test_the_region_is_checked_at_load_with_file_line_col(tmp_path: Path) -> None:
    ok = load_scenario(_write(tmp_path, "region: a"))
    (fault,) = ok.phases[0].faults
    assert fault.target == "region:a" and fault.describe() == "region-partition region:a (every link into region a cut)"
    path = _write(tmp_path, "region: c")
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(path)
    assert f"{path}:10:" in str(info.value) and "unknown region 'c'" in str(info.value) and "a, b" in str(info.value)
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(_write(tmp_path, "region: a\n        target: gateway"))
    assert "target is region:a" in str(info.value)


class FakeToxiproxy:
    """Toxics per proxy: add (409 when held), list, delete (404 when not held)."""

    def __init__(self, refuse: str = "") -> None:
        self.toxics: dict[str, dict[str, dict[str, object]]] = {}
        self.refuse = refuse  # a proxy whose toxic calls fail

    def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        proxy = parts[1]
        if proxy == self.refuse:
            return httpx.Response(500, text="boom")
        held = self.toxics.setdefault(proxy, {})
        if request.method == "POST":
            body = json.loads(request.content)
            if body["name"] in held:
                return httpx.Response(409, json={"error": "exists"})
            held[body["name"]] = body
            return httpx.Response(200, json=body)
        if request.method == "GET":
            return httpx.Response(200, json=list(held.values()))
        if held.pop(parts[3], None) is None:
            return httpx.Response(404, json={"error": "toxic not found"})
        return httpx.Response(204)


def _ctx(tmp_path: Path, fake: FakeToxiproxy, system_path: Path | None = None) -> FaultContext:
    settings = Settings(state_dir=tmp_path, port_base=24900)
    system = load_system(system_path) if system_path is not None else None
    ctx = FaultContext(settings, Topology(settings.port_base), backend_factory=lambda: None, system=system,
                       system_path=system_path)  # fmt: skip
    ctx._toxiproxy = ToxiproxyClient(ctx.topology.url("toxiproxy"), transport=httpx.MockTransport(fake))
    return ctx


def _spec(tmp_path: Path, region: str = "a"):  # noqa: ANN202
    return load_scenario(_write(tmp_path, f"region: {region}")).phases[0].faults[0]


def test_inject_cuts_every_link_into_the_region_both_ways_and_revert_removes_only_those(tmp_path: Path) -> None:
    fake = FakeToxiproxy()
    topo = Topology(24900)
    other = topo.link_to("gateway", "model-gpu-b1").proxy_name
    fake.toxics[other] = {"region-b-latency": {"name": "region-b-latency", "type": "latency"}}  # the stack's own
    fault = build_fault(_spec(tmp_path), _ctx(tmp_path, fake))
    fault.inject()
    cut = {p for p, held in fake.toxics.items() if any(n.startswith("chaosctl-") for n in held)}
    assert cut == {topo.link_to("gateway", n).proxy_name for n in ("model-gpu-1", "model-gpu-2", "model-cpu-1")}
    held = next(iter(fake.toxics[topo.link_to("gateway", "model-gpu-1").proxy_name].values()))
    assert held["type"] == "timeout" and held["attributes"] == {"timeout": 0}
    assert "3 links into region a" in fault.verify()
    fault.revert()
    fault.revert()  # idempotent
    assert {p: list(t) for p, t in fake.toxics.items() if t} == {other: ["region-b-latency"]}
    with pytest.raises(FaultError, match="is not cut"):
        fault.verify()


def test_recover_rebuilds_the_partition_from_its_journal_record(tmp_path: Path) -> None:
    fake = FakeToxiproxy()
    ctx = _ctx(tmp_path, fake)
    fault = build_fault(_spec(tmp_path, "b"), ctx)
    fault.inject()
    record = FaultRecord.from_json(json.loads(json.dumps(fault.record.to_json())))  # through the journal's JSON
    fault_from_record(record, ctx).revert()
    assert not any(fake.toxics.values())


def test_a_revert_that_fails_on_one_link_still_reverts_the_others_and_says_which(tmp_path: Path) -> None:
    topo = Topology(24900)
    bad = topo.link_to("gateway", "model-gpu-2").proxy_name
    fake = FakeToxiproxy()
    fault = build_fault(_spec(tmp_path), _ctx(tmp_path, fake))
    fault.inject()
    fake.refuse = bad
    with pytest.raises(FaultError, match="gateway->model-gpu-2"):
        fault.revert()
    assert [p for p, t in fake.toxics.items() if t] == [bad]


USER_SYSTEM = """\
apiVersion: chaosctl/v1
kind: System
metadata: {name: shop}
observability: {prometheus: {url: "http://127.0.0.1:9090"}}
slis: {preset: chaosctl-reference}
components:
  - {name: api, kind: container, container: api}
  - {name: db-east, kind: container, container: db-east, region: east}
  - {name: db-west, kind: container, container: db-west, region: west}
links:
  - {name: api->db-east, toxiproxy: "http://127.0.0.1:24970", proxy: api_db_east}
  - {name: api->db-west, toxiproxy: "http://127.0.0.1:24970", proxy: api_db_west}
"""


def test_on_a_user_system_a_region_is_its_components_region_label(tmp_path: Path) -> None:
    system_path = tmp_path / "shop.system.yaml"
    system_path.write_text(USER_SYSTEM)
    scenario_path = _write(tmp_path, "region: east")
    scenario, _ = load_scenario_for_system(scenario_path, system_path)
    fake = FakeToxiproxy()
    ctx = _ctx(tmp_path, fake, system_path)
    ctx._proxies["http://127.0.0.1:24970"] = ToxiproxyClient("http://127.0.0.1:24970", transport=httpx.MockTransport(fake))
    fault = build_fault(scenario.phases[0].faults[0], ctx)
    fault.inject()
    assert [p for p, t in fake.toxics.items() if t] == ["api_db_east"]
    fault.revert()
    with pytest.raises((ScenarioInvalid, SystemInvalid)) as info:
        load_scenario_for_system(_write(tmp_path, "region: a"), system_path)
    assert "unknown region 'a'" in str(info.value) and "east, west" in str(info.value)


def _spans(service: str, n: int, t0: float, parent: str = "gw") -> list[Span]:
    return [Span(f"t{service}{t0}{i}", f"s{service}{t0}{i}", parent, service, "POST /predict",
                 int((t0 + i * 0.1) * 1e6), int((t0 + i * 0.1 + 0.01) * 1e6), False, ()) for i in range(n)]  # fmt: skip


def _window(start: float, **by_service: int) -> Observed:
    spans = [s for svc, n in by_service.items() for s in _spans(svc.replace("_", "-"), n, start)]
    return Observed(start, start + 10, spans)


FACTS = FaultFacts("region-partition", "region:a", {"region": "a", "members": ["model-gpu-1", "model-cpu-1"]})


def test_effect_confirmed_when_traffic_into_the_region_stops_and_says_where_it_went() -> None:
    base = _window(0, model_gpu_1=60, model_cpu_1=20, gateway=80)
    during = _window(100, model_gpu_b1=70, gateway=70)
    effect = judge(FACTS, base, during)
    assert effect.verdict == CONFIRMED and "model-gpu-b1" in effect.evidence


def test_effect_not_observed_when_the_region_kept_its_traffic_and_inconclusive_without_data() -> None:
    base = _window(0, model_gpu_1=60, gateway=60)
    assert judge(FACTS, base, _window(100, model_gpu_1=55, gateway=55)).verdict == NOT_OBSERVED
    assert judge(FACTS, base, _window(100, gateway=5)).verdict == INCONCLUSIVE  # an empty fault window: missing data
    assert judge(FACTS, _window(0, gateway=60), _window(100, gateway=60)).verdict == INCONCLUSIVE  # no baseline traffic
