"""The docker backend end to end: needs a Docker engine; skipped with the reason when none answers."""

from __future__ import annotations

import httpx
import pytest

from chaosctl.settings import load_settings
from chaosctl.stack.docker import DockerBackend, docker_engine_status

ENGINE_OK, ENGINE_WHY = docker_engine_status()
pytestmark = [
    pytest.mark.docker,
    pytest.mark.integration,
    pytest.mark.skipif(not ENGINE_OK, reason=f"docker backend e2e needs a Docker engine: {ENGINE_WHY}"),
]
PORT_BASE = 25700  # away from the local-backend tests' ports


@pytest.fixture(scope="module")
def docker_stack(tmp_path_factory):
    settings = load_settings(state_dir=tmp_path_factory.mktemp("docker-state"), port_base=PORT_BASE, backend="docker")
    backend = DockerBackend(settings)
    try:
        status = backend.up()
        yield backend, status
    finally:
        backend.down()


def test_up_gives_a_ready_stack_with_grafana(docker_stack):
    backend, status = docker_stack
    assert status.all_ready, status.to_json()
    assert httpx.get(f"{status.endpoints['gateway']}/healthz", timeout=5).status_code == 200
    assert httpx.get(f"{status.endpoints['grafana']}/api/health", timeout=5).status_code == 200


def test_pause_and_kill_map_to_the_container(docker_stack):
    backend, _ = docker_stack
    backend.pause("registry-store[0]")
    try:
        assert backend.is_paused("registry-store[0]")
    finally:
        backend.resume("registry-store[0]")
    backend.kill("registry-store[1]")
    assert not backend.is_running("registry-store[1]")
    backend.start("registry-store[1]")
    assert backend.is_running("registry-store[1]")
