"""region-partition: cut one region off the rest of the System.

Every link into the region (from a component outside it to one inside, by the components'
`region` labels) gets two Toxiproxy `timeout` toxics with timeout 0, one per direction: bytes
are held, nothing reaches the region and nothing comes back, and connections stay open, as when a
partition drops packets (not a refused connection, which a client notices at once). Callers see
their calls time out. The toxics are named after the fault id (`chaosctl-<id>-up` / `-down`), so
the revert, also from `chaosctl recover` after a killed run, removes exactly these and no other;
it goes through every link in reverse order and reports each one it could not clean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaosctl.errors import FaultError

from .base import FaultContext, FaultRecord
from .toxiproxy import TOXIC_PREFIX, Toxic

if TYPE_CHECKING:  # pragma: no cover
    from chaosctl.system.model import LinkSpec

STREAMS = {"upstream": "up", "downstream": "down"}  # Toxiproxy stream -> toxic name suffix


def region_links(ctx: FaultContext, region: str) -> list["LinkSpec"]:
    """The System's links from outside `region` into it (FaultError when there is none)."""
    system = ctx.resolved_system
    members = {c.name for c in system.components if getattr(c, "region", None) == region}
    links = [link for link in system.links if link.dest in members and link.source not in members]
    if not links:
        raise FaultError(f"region {region!r} of System {system.name!r} has no link into it: nothing to cut")
    return links


def cut_toxics(record: FaultRecord) -> tuple[Toxic, ...]:
    return tuple(Toxic(f"{TOXIC_PREFIX}{record.id}-{suffix}", "timeout", stream, 1.0, {"timeout": 0.0})
                 for stream, suffix in STREAMS.items())  # fmt: skip


@dataclass
class RegionPartitionFault:
    record: FaultRecord
    ctx: FaultContext

    @property
    def region(self) -> str:
        return str(self.record.params.get("region") or self.record.target.removeprefix("region:"))

    def inject(self) -> None:
        # A failure part-way leaves some links cut: the engine reverts a journaled fault whose inject raised.
        for link in region_links(self.ctx, self.region):
            client, proxy = self.ctx.toxiproxy_for(link)
            for toxic in cut_toxics(self.record):
                client.add_toxic(proxy, toxic)

    def verify(self) -> str:
        links = region_links(self.ctx, self.region)
        for link in links:
            client, proxy = self.ctx.toxiproxy_for(link)
            listed = {t.name for t in client.toxics(proxy)}
            missing = [t.name for t in cut_toxics(self.record) if t.name not in listed]
            if missing:
                raise FaultError(f"{self.record.label}: {link.target} is not cut (toxiproxy lacks {', '.join(missing)} on {proxy})")
        return f"toxiproxy holds every byte both ways on {len(links)} links into region {self.region}: " + ", ".join(
            link.name for link in links)

    def revert(self) -> None:
        failed = []
        for link in reversed(region_links(self.ctx, self.region)):
            if link.managed and self._managed_gone():
                continue  # chaosctl's own proxy is gone, and its toxics with it
            try:
                client, proxy = self.ctx.toxiproxy_for(link)
                for toxic in cut_toxics(self.record):
                    client.remove_toxic(proxy, toxic.name)
            except FaultError as exc:  # the other links are still reverted
                failed.append(f"{link.name}: {exc}")
        if failed:
            raise FaultError(f"{self.record.label}: revert failed on " + "; ".join(failed))

    def _managed_gone(self) -> bool:
        from .proxyserver import running_managed

        return running_managed(self.ctx.settings, self.ctx.resolved_system) is None
