"""The facts a scenario check reads from its System (system/facts.py): from the reference data
without building the System models, the same as from the built System."""

from __future__ import annotations

import pytest

from chaosctl.stack.topology import Topology
from chaosctl.system.facts import facts_of, reference_facts
from chaosctl.system.model import System
from chaosctl.system.reference import reference_system


@pytest.mark.parametrize("port_base", [17000, 24300, 30000])
def test_reference_facts_are_the_built_reference_systems(port_base: int) -> None:
    topology = Topology(port_base)
    facts = reference_facts(topology)
    assert facts == facts_of(reference_system(topology))
    assert "canary-rollout" in facts.component("gateway").faults  # the rule of kinds.reference_faults
    assert all(c.startable for c in facts.components)


def test_a_process_without_start_is_not_startable() -> None:
    system = System.model_validate({
        "apiVersion": "chaosctl/v1", "kind": "System", "metadata": {"name": "mine"},
        "observability": {"prometheus": {"url": "http://127.0.0.1:9090"}}, "slis": {"preset": "chaosctl-reference"},
        "components": [{"name": "api", "kind": "process", "pidfile": "/run/api.pid"},
                       {"name": "db", "kind": "process", "pidfile": "/run/db.pid", "start": "db --serve"},
                       {"name": "box", "kind": "container", "container": "box"}],
    })  # fmt: skip
    facts = facts_of(system)
    assert [(c.name, c.startable) for c in facts.components] == [("api", False), ("db", True), ("box", True)]
    assert facts.component("box").faults == ("process-kill", "process-pause", "process-restart")
    assert not facts.has_jaeger and facts.link_ends == () and facts.request_templates == ()
