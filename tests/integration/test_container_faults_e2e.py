"""Container faults end to end against a real Docker engine: a throwaway container (the
stack image, or busybox when present) is killed, paused and restarted through a System's
`container` component, and every revert brings it back. Needs a Docker engine: skipped
with the reason when none answers (the unit tests cover the logic with a fake client)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from chaosctl.faults.base import FaultContext, FaultRecord
from chaosctl.faults.catalogue import fault_from_record
from chaosctl.settings import Settings
from chaosctl.stack.docker import docker_engine_status
from chaosctl.stack.topology import Topology
from chaosctl.system.model import System

ENGINE_OK, ENGINE_WHY = docker_engine_status()
pytestmark = [
    pytest.mark.docker,
    pytest.mark.integration,
    pytest.mark.skipif(not ENGINE_OK, reason=f"container fault e2e needs a Docker engine: {ENGINE_WHY}"),
]


@pytest.fixture()
def container(tmp_path: Path):
    import docker

    client = docker.from_env()
    images = [t for i in client.images.list() for t in i.tags if t.startswith(("busybox", "chaosctl-stack"))]
    if not images:
        pytest.skip("no local busybox or chaosctl-stack image to run a throwaway container from (no pulls in tests)")
    name = f"chaosctl-fault-e2e-{uuid.uuid4().hex[:8]}"
    c = client.containers.run(images[0], ["sleep", "600"], name=name, detach=True, entrypoint=[])
    try:
        yield name
    finally:
        c.remove(force=True)


def test_kill_pause_restart_and_revert_a_real_container(container: str, tmp_path: Path) -> None:
    system = System.model_validate({
        "apiVersion": "chaosctl/v1", "kind": "System", "metadata": {"name": "box"},
        "observability": {"prometheus": {"url": "http://127.0.0.1:9"}}, "slis": {"preset": "otel-http"},
        "components": [{"name": "box", "kind": "container", "container": container}]})
    ctx = FaultContext(Settings(state_dir=tmp_path), Topology(24700), lambda: None, system=system)
    for ftype, evidence in (("process-kill", "exited"), ("process-pause", "paused"), ("process-restart", "running")):
        fault = fault_from_record(FaultRecord(uuid.uuid4().hex[:12], ftype, "box"), ctx)
        fault.inject()
        assert evidence in fault.verify()
        fault.revert()
        fault.revert()
        assert fault.container().status == "running"
