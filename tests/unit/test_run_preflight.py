"""The pre-flight names every component and observability backend that does not answer (its
Prometheus and Jaeger checks run beside the backend's status: each named once, whichever answers first)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chaosctl.errors import StackUnavailable
from chaosctl.runner.steady import preflight
from chaosctl.stack.topology import Topology


@dataclass(frozen=True)
class Component:
    name: str
    state: str
    url: str = "http://127.0.0.1:1"


@dataclass(frozen=True)
class Status:
    components: tuple[Component, ...]


class Backend:
    def __init__(self, *components: Component) -> None:
        self.components = components

    def status(self) -> Status:
        return Status(self.components)


def _closed_topology() -> Topology:
    """A port base whose Prometheus and Jaeger ports nobody listens on (stacks run at 2x000-3x000)."""
    import socket
    from urllib.parse import urlsplit

    def closed(port: int | None) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port or 0)) != 0

    for base in range(45000, 60000, 1000):
        topo = Topology(base)
        if all(closed(urlsplit(topo.url(name)).port) for name in ("prometheus", "jaeger")):
            return topo
    pytest.skip("no port base with closed Prometheus and Jaeger ports")


def test_unreachable_observability_backends_are_named_beside_the_components() -> None:
    backend = Backend(Component("gateway", "ready"), Component("registry", "stopped"))
    with pytest.raises(StackUnavailable) as err:
        preflight(backend, _closed_topology())  # type: ignore[arg-type]
    text = str(err.value)
    assert "registry (stopped" in text and "gateway" not in text
    assert "prometheus (" in text and "jaeger (" in text


def test_a_backend_already_named_by_the_status_is_not_named_twice() -> None:
    backend = Backend(Component("prometheus", "stopped"), Component("jaeger", "ready"))
    with pytest.raises(StackUnavailable) as err:
        preflight(backend, _closed_topology())  # type: ignore[arg-type]
    text = str(err.value)
    assert text.count("prometheus (") == 1 and text.count("jaeger (") == 1
