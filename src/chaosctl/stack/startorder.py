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
"""

from __future__ import annotations

from chaosctl.stack.components import stages
from chaosctl.stack.topology import ANALYSER, AUTOSCALER, EVENTS, MODEL_SERVERS, Topology


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
