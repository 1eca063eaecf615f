"""System files: loading, FILE:LINE:COL errors with did-you-mean, the shipped reference System."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from chaosctl.errors import SystemInvalid
from chaosctl.scenario.yamlsrc import read_yaml
from chaosctl.stack.topology import Topology
from chaosctl.system import load_system, reference_system
from chaosctl.system.model import ProcessComponent
from chaosctl.system.reference import shipped_yaml
from chaosctl.system.schema import json_schema

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "systems" / "reference.system.yaml"

GOOD = """\
apiVersion: chaosctl/v1
kind: System
metadata:
  name: shop
observability:
  prometheus:
    url: https://prom.example:9090
    token_env: PROM_TOKEN
  jaeger: {url: http://127.0.0.1:16686}
slis:
  preset: otel-http
  selector: job="checkout"
traces:
  services: [checkout, payments]
components:
  - name: checkout
    kind: process
    match: 'uvicorn checkout:app'
    start: uvicorn checkout:app --port 8001
    ready: {http: http://127.0.0.1:8001/healthz}
  - {name: payments, kind: container, container: shop-payments-1}
  - {name: db, kind: pod, namespace: shop, selector: {app: db}}
  - {name: gpu, kind: gpu-host, device: 0}
links:
  - {name: checkout->payments, listen: 127.0.0.1:18001, upstream: 127.0.0.1:8002}
  - {name: checkout->db, toxiproxy: http://127.0.0.1:8474, proxy: db}
load:
  base_url: http://127.0.0.1:8001
  auth: {header: Authorization, prefix: "Bearer ", value_env: SHOP_TOKEN}
  requests:
    - {name: cart, method: POST, path: /cart, json: {item: 1}, weight: 3}
    - {name: home, path: /}
"""


def _write(tmp_path: Path, text: str, name: str = "shop.system.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SystemInvalid) as info:
        load_system(_write(tmp_path, text))
    return info.value.messages


def test_a_full_system_loads(tmp_path: Path) -> None:
    system = load_system(_write(tmp_path, GOOD))
    assert system.name == "shop"
    assert system.observability.prometheus.tls_verify is True  # on unless switched off
    assert system.observability.prometheus.token_env == "PROM_TOKEN"
    assert [c.kind for c in system.components] == ["process", "container", "pod", "gpu-host"]
    assert isinstance(system.components[0], ProcessComponent) and system.components[0].start
    assert system.link("link:checkout->payments").managed and not system.link("checkout->db").managed
    assert system.targets[-2:] == ("link:checkout->payments", "link:checkout->db")
    assert system.load is not None and system.load.requests[0].body == {"item": 1}
    assert system.component("payments").faults == ("process-kill", "process-pause", "process-restart")


@pytest.mark.parametrize(
    "old, new, line, words",
    [
        ("observability:", "observabilty:", 5, ["unknown field 'observabilty'", "did you mean 'observability'"]),
        ("    match: 'uvicorn", "    mach: 'uvicorn", 18, ["unknown field 'mach'", "did you mean 'match'"]),
        ("kind: container", "kind: containr", 21, ["unknown kind 'containr'", "did you mean 'container'"]),
        ("preset: otel-http", "preset: otel", 11, ["'otel' is not allowed"]),
        ("    match: 'uvicorn checkout:app'\n", "", 16, ["exactly one of `pidfile` or `match`"]),
        ("proxy: db}", "proxy: db, listen: 127.0.0.1:18001, upstream: x:1}", 26, ["duplicate listen address"]),
        ("{name: payments,", "{name: checkout,", 21, ["duplicate component 'checkout'"]),
        ("url: https://prom.example:9090", "url: prom.example:9090", 7, ["should match pattern"]),
        ("apiVersion: chaosctl/v1", "apiVersion: chaosctl/v2", 1, ["unsupported apiVersion"]),
        ("  - {name: checkout->db, toxiproxy: http://127.0.0.1:8474, proxy: db}",
         "  - {name: checkout->db, proxy: db}", 26, ["needs both `toxiproxy`"]),
    ],
)
def test_errors_point_at_the_line(tmp_path: Path, old: str, new: str, line: int, words: list[str]) -> None:
    assert old in GOOD
    messages = _errors(tmp_path, GOOD.replace(old, new, 1))
    source = str(tmp_path / "shop.system.yaml")
    hit = [m for m in messages if m.startswith(f"{source}:{line}:")]
    assert hit, messages
    for word in words:
        assert word in hit[0], hit[0]


def test_kind_must_be_system(tmp_path: Path) -> None:
    messages = _errors(tmp_path, GOOD.replace("kind: System", "kind: Scenario"))
    assert messages[0].endswith("kind: expected 'System', found 'Scenario'") and ":2:" in messages[0]


def test_slis_without_preset_need_all_three(tmp_path: Path) -> None:
    text = GOOD.replace("  preset: otel-http\n", "  latency_histogram: http_duration_seconds\n")
    messages = _errors(tmp_path, text)
    assert any("without a preset, slis needs requests, errors" in m for m in messages), messages


def test_yaml_problems_are_system_errors(tmp_path: Path) -> None:
    messages = _errors(tmp_path, GOOD.replace("metadata:\n  name: shop", "metadata: {name: shop"))
    assert messages and ":4:" in messages[0]


def test_shipped_reference_file_is_the_generated_one() -> None:
    regenerate = "python -c 'from chaosctl.system.reference import shipped_yaml as s; print(s(), end=\"\")' > systems/reference.system.yaml"
    assert SHIPPED.read_text() == shipped_yaml(), f"regenerate: {regenerate}"
    assert load_system(SHIPPED) == reference_system(Topology())


def test_reference_system_follows_the_port_base() -> None:
    topo = Topology(36000)
    system = reference_system(topo)
    assert system.observability.prometheus.url == "http://127.0.0.1:36050"
    assert system.observability.jaeger is not None and system.observability.jaeger.url == "http://127.0.0.1:36062"
    names = [c.name for c in system.components]
    assert names[:3] == ["registry-store[0]", "registry-store[1]", "registry-store[2]"]
    assert {"registry", "gateway", "model-gpu-1", "model-gpu-2", "model-cpu-1"} <= set(names)
    assert {c.name for c in system.components if c.kind == "reference-modelserver"} == {"model-gpu-1", "model-gpu-2", "model-gpu-b1"}
    link = system.link("link:gateway->model-gpu-1")
    topo_link = topo.link("link:gateway->model-gpu-1")
    assert link.proxy == topo_link.proxy_name and link.listen == f"127.0.0.1:{topo_link.listen_port}"
    assert sorted(system.targets) == sorted(topo.targets)  # every target a scenario may name today
    assert system.slis.preset == "chaosctl-reference" and system.traces.services[0] == "gateway"


def test_schema_is_committed_and_accepts_the_reference() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert json.loads((ROOT / "schemas" / "system-v1.json").read_text()) == schema, (
        "regenerate: chaosctl schema --kind system > schemas/system-v1.json"
    )
    data, _ = read_yaml(SHIPPED)
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []
    data["components"][0]["pidfil"] = "x"
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) != []


def test_loading_a_system_stays_light() -> None:
    """No rich, stack display, HTTP client or psutil just to read a System (validate starts fast)."""
    import subprocess
    import sys

    code = (
        "import sys; from chaosctl.system import load_system; load_system(sys.argv[1]); "
        "print(sorted(m for m in ('rich', 'httpx', 'psutil', 'chaosctl.stack.display', 'chaosctl.console') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(SHIPPED)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_files_it_points_at_must_be_there(tmp_path: Path) -> None:
    text = GOOD.replace("json: {item: 1}", "json_file: bodies/cart.json").replace(
        "    token_env: PROM_TOKEN\n", "    token_env: PROM_TOKEN\n    ca_file: corp-ca.pem\n"
    )
    messages = _errors(tmp_path, text)
    source = str(tmp_path / "shop.system.yaml")
    assert any(m.startswith(f"{source}:9:14: observability.prometheus.ca_file: no CA bundle at") for m in messages), messages
    assert any(f"load.requests[0].json_file: cannot read {tmp_path / 'bodies' / 'cart.json'}" in m for m in messages), messages
    (tmp_path / "corp-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "bodies").mkdir()
    (tmp_path / "bodies" / "cart.json").write_text("{item: 1}")  # not JSON
    assert any("is not JSON" in m for m in _errors(tmp_path, text))
    (tmp_path / "bodies" / "cart.json").write_text('{"item": 1}')
    assert load_system(_write(tmp_path, text)).load.requests[0].json_file == "bodies/cart.json"
