"""process-kill / -pause / -restart on a System's `container` component, through the
Docker SDK (`docker` package, imported only here and only when such a fault runs).

kill = `docker kill` (reverted by `docker start` and, when the component has a
`url`, waiting until it answers), pause = `docker pause` (reverted by unpause),
restart = `docker restart`. Evidence is the engine's own word (container state).
Every revert is idempotent: it looks at the container's state first. The client
comes from `ctx.clients["docker"]` when given (unit tests give a fake), else
`docker.from_env()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaosctl.errors import FaultError, StackUnavailable
from chaosctl.waiting import http_answers, wait_until

from .base import Fault, FaultContext, FaultRecord

if TYPE_CHECKING:
    from chaosctl.system.model import ContainerComponent

READY_TIMEOUT_S = 60.0


def docker_client(ctx: FaultContext) -> Any:
    factory = ctx.clients.get("docker")
    if factory is not None:
        return factory()
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - a pinned dependency
        raise StackUnavailable(f"container faults need the `docker` package: {exc}") from exc
    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        raise StackUnavailable(f"no Docker engine reachable for container faults: {exc}") from exc


@dataclass
class ContainerFault:
    record: FaultRecord
    ctx: FaultContext
    _client: Any = field(default=None, init=False)

    @property
    def comp(self) -> "ContainerComponent":
        return self.ctx.component(self.record.target)  # type: ignore[no-any-return]

    def container(self) -> Any:
        if self._client is None:
            self._client = docker_client(self.ctx)
        try:
            found = self._client.containers.get(self.comp.container)
        except Exception as exc:  # noqa: BLE001 - docker.errors.NotFound / APIError, named below
            raise FaultError(f"{self.record.label}: container {self.comp.container!r}: {exc}") from exc
        found.reload()
        return found

    def _status(self) -> str:
        return str(self.container().status)

    def _wait_url(self) -> None:
        url = self.comp.url
        if url is None:
            return
        if wait_until(lambda: http_answers(url), READY_TIMEOUT_S, interval=0.2):
            return
        raise FaultError(f"{self.record.label}: {url} did not answer within {READY_TIMEOUT_S:.0f}s after the start")

    def ensure_running(self) -> None:
        c = self.container()
        if c.status == "paused":
            c.unpause()
        elif c.status != "running":
            c.start()
            self._wait_url()


class ContainerKillFault(ContainerFault):
    def inject(self) -> None:
        self.container().kill()

    def verify(self) -> str:
        status = self._status()
        if status == "running":
            raise FaultError(f"process-kill {self.record.target}: container {self.comp.container} still running")
        return f"container {self.comp.container} is {status}"

    def revert(self) -> None:
        self.ensure_running()


class ContainerPauseFault(ContainerFault):
    def inject(self) -> None:
        self.container().pause()

    def verify(self) -> str:
        status = self._status()
        if status != "paused":
            raise FaultError(f"process-pause {self.record.target}: container {self.comp.container} is {status}")
        return f"container {self.comp.container} is paused"

    def revert(self) -> None:
        c = self.container()
        if c.status == "paused":
            c.unpause()


class ContainerRestartFault(ContainerFault):
    def inject(self) -> None:
        self.container().restart()
        self._wait_url()

    def verify(self) -> str:
        status = self._status()
        if status != "running":
            raise FaultError(f"process-restart {self.record.target}: container {self.comp.container} is {status}")
        return f"container {self.comp.container} restarted and running"

    def revert(self) -> None:
        self.ensure_running()


def container_fault(record: FaultRecord, ctx: FaultContext) -> Fault:
    kinds = {"process-kill": ContainerKillFault, "process-pause": ContainerPauseFault, "process-restart": ContainerRestartFault}
    return kinds[record.type](record, ctx)
