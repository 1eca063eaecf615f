"""When `up` may start each component: as soon as what it needs is ready.

`components.stages` stays the one list of the start order. By default a component
needs every component of the earlier stages (what the stages always meant), so a
component added to a stage is safe without a word here. Two exceptions cut the
critical path, each because nothing the component does at start depends on more:

- model servers need nothing: their training or cache load and simulated warm-up
  dominate `up`, they keep retrying their registration until the registry answers,
  and their readiness is their own /healthz;
- the gateway does not wait for the model servers: it asks the registry per request
  (with a short cache) and `up` waits for every registration before it returns;
- the Kafka broker (`events`, a JVM: the slowest start) is started first and nothing waits for
  it: the gateway's publisher buffers, and the analyser (needing only Toxiproxy, its link) starts
  beside it, loads its model and keeps connecting until the broker answers; `up` still waits for
  both to be ready;
- the autoscaler needs only the registry (where its replicas register): it reads the model
  servers itself and takes no scale-up on a server it has not yet seen answer.

Of the components that may start at the same moment, `first` puts the slowest to get ready in
front: Prometheus (it hands its targets to its scrapers 5 s after it starts, a fixed throttle of
its discovery, and first scrapes each up to a scrape interval later: that is the last wait of a
cold `up`), the broker, the GPU model servers (their simulated warm-up), then the analyser (once
forked it still joins the broker's consumer group: ready 2-3 s after the broker): each fork or
spawn takes a moment (~0.1 s at load 7), and theirs should not wait behind the light ones.
"""

from __future__ import annotations

from chaosctl.stack.components import stages
from chaosctl.stack.topology import ANALYSER, AUTOSCALER, EVENTS, MODEL_SERVERS, Topology


def first(names: list[str]) -> list[str]:
    """`names` (in start order), the slowest to get ready first: Prometheus, the broker, the GPU model
    servers, the analyser, the registry (what the gateway and the autoscaler wait for), then the rest
    in their order."""
    ahead = ("prometheus", EVENTS, *(m.name for m in MODEL_SERVERS if m.device == "gpu"), ANALYSER, "registry")
    return sorted(names, key=lambda n: ahead.index(n) if n in ahead else len(ahead))  # stable: the rest keep order


def needs(topo: Topology, wanted: tuple[str, ...] | list[str]) -> dict[str, frozenset[str]]:
    """For each wanted component, the wanted components that must be ready before it starts."""
    servers = frozenset(m.name for m in MODEL_SERVERS)
    out: dict[str, frozenset[str]] = {}
    earlier: set[str] = set()
    for stage in stages(topo):
        names = [n for n in stage if n in wanted]
        for name in names:
            if name in servers:
                out[name] = frozenset()
            elif name == ANALYSER:
                out[name] = frozenset(earlier & {"toxiproxy"})
            elif name == AUTOSCALER:
                out[name] = frozenset(earlier & {"registry"})
            elif name == "gateway":
                out[name] = frozenset(earlier - servers - {EVENTS})
            else:
                out[name] = frozenset(earlier - {EVENTS})
        earlier.update(names)
    return out
