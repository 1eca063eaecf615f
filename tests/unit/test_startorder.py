"""`up` starts each component once what it needs is ready (stack/startorder.py)."""

from __future__ import annotations

from chaosctl.stack.components import stages
from chaosctl.stack.startorder import needs
from chaosctl.stack.topology import ANALYSER, AUTOSCALER, EVENTS, MODEL_SERVERS, Topology

TOPO = Topology(29000)
ALL = [n for stage in stages(TOPO) for n in stage]
SERVERS = {m.name for m in MODEL_SERVERS}


def test_model_servers_need_nothing_and_the_registry_needs_etcd() -> None:
    got = needs(TOPO, ALL)
    assert all(got[s] == frozenset() for s in SERVERS if s in got)
    assert set(TOPO.etcd_members) <= got["registry"]


def test_the_gateway_waits_for_the_registry_and_the_proxies_not_the_model_servers() -> None:
    got = needs(TOPO, ALL)["gateway"]
    assert {"registry", "toxiproxy", *TOPO.etcd_members} <= got
    assert not got & SERVERS


def test_the_autoscaler_needs_only_the_registry() -> None:
    assert needs(TOPO, ALL)[AUTOSCALER] == frozenset({"registry"})  # it holds scale-ups until servers answered


def test_any_other_component_needs_every_earlier_stage_but_the_broker() -> None:
    got = needs(TOPO, ALL)
    earlier: set[str] = set()
    for stage in stages(TOPO):
        for name in stage:
            if name not in SERVERS and name not in ("gateway", ANALYSER, AUTOSCALER):
                assert got[name] == frozenset(earlier - {EVENTS}), name
        earlier.update(stage)


def test_the_broker_starts_first_and_nothing_waits_for_it() -> None:
    got = needs(TOPO, ALL)
    assert ALL[0] == EVENTS and got[EVENTS] == frozenset()
    assert got[ANALYSER] == frozenset({"toxiproxy"})  # it connects (through its link) until the broker answers
    assert not [name for name, need in got.items() if EVENTS in need]


def test_only_wanted_components_are_needed() -> None:
    wanted = [*TOPO.etcd_members, "registry", "gateway"]
    assert needs(TOPO, wanted) == {
        **{m: frozenset() for m in TOPO.etcd_members},
        "registry": frozenset(TOPO.etcd_members),
        "gateway": frozenset({*TOPO.etcd_members, "registry"}),
    }
