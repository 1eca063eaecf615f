"""Which addresses of a System leave this machine: a run on such a System needs `--confirm NAME`.

Pods always count (they live on a cluster); containers run on the local engine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from urllib.parse import urlsplit

from .model import PodComponent, System


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a DNS name: it may resolve anywhere


def _host(address: str) -> str:
    if "://" in address:
        return urlsplit(address).hostname or ""
    return address.rsplit(":", 1)[0]


def _addresses(system: System) -> Iterator[tuple[str, str]]:
    obs = system.observability
    for name in ("prometheus", "jaeger", "grafana"):
        endpoint = getattr(obs, name)
        if endpoint is not None:
            yield f"observability.{name}.url", endpoint.url
    for c in system.components:
        for attr in ("url", "admin_url"):
            if getattr(c, attr, None):
                yield f"component {c.name} {attr}", getattr(c, attr)
        ready = getattr(c, "ready", None)
        if ready is not None:
            yield f"component {c.name} ready", ready.http or ready.tcp
    for link in system.links:
        for attr in ("listen", "upstream", "toxiproxy"):
            if getattr(link, attr):
                yield f"link {link.name} {attr}", getattr(link, attr)
    if system.load is not None:
        yield "load.base_url", system.load.base_url


def remote_endpoints(system: System) -> tuple[str, ...]:
    """`where: address` of everything that is not loopback, plus every pod component."""
    out = [f"{where}: {address}" for where, address in _addresses(system) if not is_loopback(_host(address))]
    out += [f"component {c.name}: pods in namespace {c.namespace} (a cluster)" for c in system.components if isinstance(c, PodComponent)]
    return tuple(out)


def confirm_problem(system: System, confirm: str | None) -> str | None:
    """Why a run must not start without `--confirm NAME` (None when it may)."""
    remote = remote_endpoints(system)
    if not remote or confirm == system.name:
        return None
    shown = "; ".join(remote[:5]) + (f"; and {len(remote) - 5} more" if len(remote) > 5 else "")
    return f"System {system.name!r} reaches beyond this machine ({shown}): repeat its name with --confirm {system.name} to run"
