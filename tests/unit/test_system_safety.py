"""A System that reaches beyond loopback needs `--confirm NAME`; the reference stack does not."""

from __future__ import annotations

from chaosctl.stack.topology import Topology
from chaosctl.system import System, reference_system
from chaosctl.system.safety import confirm_problem, is_loopback, remote_endpoints


def _system(**extra: object) -> System:
    data = {
        "apiVersion": "chaosctl/v1", "kind": "System", "metadata": {"name": "shop"},
        "observability": {"prometheus": {"url": "http://127.0.0.1:9090"}}, "slis": {"preset": "otel-http"},
    } | extra  # fmt: skip
    return System.model_validate(data)


def test_loopback_hosts() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "api.localhost"))
    assert not any(is_loopback(h) for h in ("10.0.0.1", "0.0.0.0", "prom.example", "192.168.1.2", "::"))


def test_the_reference_stack_is_local() -> None:
    system = reference_system(Topology(36000))
    assert remote_endpoints(system) == ()
    assert confirm_problem(system, None) is None


def test_remote_addresses_are_named_and_need_the_name() -> None:
    system = _system(
        components=[{"name": "db", "kind": "pod", "namespace": "shop", "selector": {"app": "db"}},
                    {"name": "api", "kind": "process", "pidfile": "/run/api.pid", "url": "http://api.internal:8000"}],
        links=[{"name": "api->db", "listen": "127.0.0.1:15432", "upstream": "10.0.0.7:5432"}],
    )  # fmt: skip
    remote = remote_endpoints(system)
    assert "component api url: http://api.internal:8000" in remote
    assert "link api->db upstream: 10.0.0.7:5432" in remote
    assert "component db: pods in namespace shop (a cluster)" in remote
    assert not any("listen" in r for r in remote)
    problem = confirm_problem(system, None)
    assert problem is not None and "--confirm shop" in problem and "10.0.0.7:5432" in problem
    assert confirm_problem(system, "shp") is not None  # a near miss is not a confirmation
    assert confirm_problem(system, "shop") is None
