"""`chaosctl discover` against a fake Prometheus/Jaeger (an httpx transport answering like the real APIs)."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from chaosctl.errors import StackUnavailable
from chaosctl.system import load_system
from chaosctl.system.discover import component_name, gather, render
from chaosctl.system.model import ProcessComponent

ROOT = Path(__file__).resolve().parents[2]
CHAOSCTL = ROOT / ".venv" / "bin" / "chaosctl"
PROM, JAEGER = "http://prom.test:9090", "http://jaeger.test:16686"


class FakeBackends:
    """Answers the few Prometheus and Jaeger API paths that discover reads; records what was asked."""

    def __init__(self, targets: list[tuple[str, str]], metrics: list[str], labels: list[str], services: list[str],
                 exporters: dict[str, list[str]] | None = None) -> None:
        self.targets, self.metrics, self.labels, self.services = targets, metrics, labels, services
        self.exporters = exporters or {}  # metric -> jobs exporting it (default: job "api")
        self.asked: list[str] = []
        self.proxies: dict[str, dict[str, Any]] = {}  # Toxiproxy base URL -> its GET /proxies answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(f"{request.url.host}{request.url.path}")
        body = self._answer(request)
        return httpx.Response(404, text="not found") if body is None else httpx.Response(200, json=body)

    def _answer(self, request: httpx.Request) -> Any:
        path = request.url.path
        if path == "/api/v1/targets":
            active = [{"labels": {"job": j, "instance": i}, "scrapeUrl": f"http://{i}/metrics", "health": "up"} for j, i in self.targets]
            return {"status": "success", "data": {"activeTargets": active, "droppedTargets": []}}
        if path == "/api/v1/label/__name__/values":
            return {"status": "success", "data": self.metrics}
        if path == "/api/v1/labels":
            return {"status": "success", "data": self.labels}
        if path == "/api/v1/query":  # count by (job) (METRIC)
            metric = request.url.params["query"].rsplit("(", 1)[-1].rstrip(")")
            rows = [{"metric": {"job": job}, "value": [0, "3"]} for job in self.exporters.get(metric, ["api"])]
            return {"status": "success", "data": {"resultType": "vector", "result": rows}}
        if path == "/api/v3/services":
            return {"services": self.services}
        if path == "/proxies":
            return self.proxies.get(f"{request.url.scheme}://{request.url.netloc.decode()}")
        return None


def _draft(tmp_path: Path, fake: FakeBackends, listeners: dict[int, list[str]] | None = None, jaeger: str | None = JAEGER) -> tuple[str, Any]:
    text = render(gather(PROM, jaeger, transport=httpx.MockTransport(fake)), listeners or {})
    path = tmp_path / "draft.system.yaml"
    path.write_text(text)
    return text, load_system(path)  # the draft must validate


def test_reference_like_metrics_give_the_reference_preset(tmp_path: Path) -> None:
    fake = FakeBackends(
        [("gateway", "127.0.0.1:17030"), ("registry-store-0", "127.0.0.1:17000")],
        ["chaosctl_http_request_duration_seconds_bucket", "chaosctl_http_requests_total", "up"],
        ["__name__", "code", "job"], ["registry", "gateway", "jaeger", "chaosctl-run"],
    )
    text, system = _draft(tmp_path, fake, listeners={17030: ["python", "-m", "chaosctl.services", "gateway"]})
    assert system.slis.preset == "chaosctl-reference"
    assert [c.name for c in system.components] == ["gateway"]  # the etcd member's process was not found here
    assert '# - {name: "registry-store[0]", kind: container' in text  # ... so it is a commented suggestion (indexed name)
    assert system.traces.services == ("gateway", "jaeger", "registry")  # chaosctl's own run spans left out
    assert system.observability.prometheus.url == PROM and system.observability.jaeger.url == JAEGER
    assert text.count("# review:") >= 5  # every guess says so
    assert "prom.test/api/v1/targets" in fake.asked and "jaeger.test/api/v3/services" in fake.asked


def test_otel_names_give_the_otel_preset(tmp_path: Path) -> None:
    fake = FakeBackends([("api", "10.0.0.5:8000")], ["http_server_request_duration_seconds_bucket",
                        "http_server_request_duration_seconds_count"], [], [])  # fmt: skip
    text, system = _draft(tmp_path, fake, jaeger=None, listeners={8000: ["uvicorn", "api:app"]})
    assert system.slis.preset == "otel-http" and system.observability.jaeger is None
    # a remote target is never a live guess (a local process on the same port is not it)
    assert system.components == ()
    assert "a remote target" in text and "# - {name: api, kind: pod, namespace: NS, selector: {app: api}, url: http://10.0.0.5:8000}" in text
    assert "components: []  # review: no process found for any scrape target" in text


def test_metrics_of_the_observability_backends_do_not_pick_the_preset(tmp_path: Path) -> None:
    """Jaeger exports OpenTelemetry HTTP metrics of its own: they say nothing about the system."""
    otel = "http_server_request_duration_seconds_bucket"
    fake = FakeBackends([], [otel, "http_server_request_duration_seconds_count", "http_request_duration_seconds_bucket",
                             "http_requests_total"], [], [], exporters={otel: ["jaeger"]})  # fmt: skip
    text, system = _draft(tmp_path, fake)
    assert system.slis.preset == "prometheus-client"  # exported by the app's job, unlike the otel one
    assert "exported by job(s) api" in text and 'selector: job="..."' in text


def test_unknown_convention_gives_explicit_selectors_with_the_status_label(tmp_path: Path) -> None:
    fake = FakeBackends([("api", "127.0.0.1:8000")], ["shop_request_duration_seconds_bucket", "shop_requests_total", "up"],
                        ["__name__", "job", "status_code"], ["shop"])  # fmt: skip
    _, system = _draft(tmp_path, fake)
    assert system.slis.preset is None
    resolved = system.slis.resolved()
    assert resolved.bucket_selector == "shop_request_duration_seconds_bucket"
    assert resolved.errors_selector == 'shop_requests_total{status_code=~"5.."}'


def test_no_http_metrics_still_validates_as_a_placeholder(tmp_path: Path) -> None:
    text, system = _draft(tmp_path, FakeBackends([], ["up"], [], []))
    assert system.components == () and system.slis.preset == "otel-http"
    assert "no HTTP latency histogram of your services found" in text and "no active scrape target" in text


def test_a_local_listener_becomes_a_matched_process_with_its_start_command(tmp_path: Path) -> None:
    cmd = ["/usr/bin/python3", "-m", "http.server", "8000", "--bind", "127.0.0.1"]
    fake = FakeBackends([("web files", "127.0.0.1:8000"), ("web-files", "127.0.0.1:8001")], [], [], [])
    text, system = _draft(tmp_path, fake, listeners={8000: cmd})
    (first,) = system.components
    assert first.name == "web-files"  # sanitised
    assert isinstance(first, ProcessComponent) and first.start == tuple(cmd)
    assert re.search(first.match, " ".join(cmd)) and first.ready is not None and first.ready.tcp == "127.0.0.1:8000"
    assert not re.search(first.match, "timeout 60 " + " ".join(cmd))  # anchored: a wrapper is not the process
    assert "# - {name: web-files-2, kind: container" in text  # unique name; nothing of ours listens on 8001


def test_component_names() -> None:
    taken: set[str] = set()
    assert [component_name(j, taken) for j in ["api", "api", "9lives", "a/b"]] == ["api", "api-2", "c-9lives", "a-b"]


def test_unreachable_prometheus_names_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(StackUnavailable, match=r"cannot reach Prometheus at http://prom.test:9090"):
        gather(PROM, transport=httpx.MockTransport(refuse))


def test_unreachable_jaeger_names_the_url() -> None:
    fake = FakeBackends([], [], [], [])

    def no_jaeger(request: httpx.Request) -> httpx.Response:
        if request.url.host == "jaeger.test":
            raise httpx.ConnectError("connection refused", request=request)
        return fake(request)

    with pytest.raises(StackUnavailable, match=r"cannot reach Jaeger at http://jaeger.test:16686"):
        gather(PROM, JAEGER, transport=httpx.MockTransport(no_jaeger))


def test_not_prometheus_is_said() -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>hello</html>")

    with pytest.raises(StackUnavailable, match="did not answer JSON: is this Prometheus"):
        gather(PROM, transport=httpx.MockTransport(html))


def test_cli_exit_3_naming_the_unreachable_url() -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.run([str(CHAOSCTL), "discover", "--prometheus", url, "--timeout", "2"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert f"cannot reach Prometheus at {url}" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def _proxy(name: str, listen: str, upstream: str) -> dict[str, Any]:
    return {"name": name, "listen": listen, "upstream": upstream, "enabled": True, "toxics": []}


def test_toxiproxy_proxies_become_links_and_indexed_jobs_and_gpu_servers_get_scenario_names(tmp_path: Path) -> None:
    tox = '{__name__=~"toxiproxy_.+"}'
    fake = FakeBackends(
        [("toxiproxy", "127.0.0.1:17070"), ("registry-store-0", "127.0.0.1:17000"), ("registry-store-1", "127.0.0.1:17001"),
         ("model-gpu-1", "127.0.0.1:17040"), ("model-cpu-1", "127.0.0.1:17042"), ("gateway", "127.0.0.1:17030")],
        ["chaosctl_http_request_duration_seconds_bucket", "chaosctl_http_requests_total", "toxiproxy_proxy_received_bytes_total",
         "chaosctl_gpu_memory_total_bytes", "chaosctl_gateway_retries_total"],
        ["__name__", "code", "job"], ["gateway"],
        exporters={tox: ["toxiproxy"], "chaosctl_gpu_memory_total_bytes": ["model-gpu-1"],
                   '{__name__=~"chaosctl_gateway_.+"}': ["gateway"],
                   "chaosctl_http_request_duration_seconds_bucket": ["model-gpu-1"]},
    )  # fmt: skip
    fake.proxies["http://127.0.0.1:17070"] = {
        "gateway__model-gpu-1": _proxy("gateway__model-gpu-1", "127.0.0.1:17104", "127.0.0.1:17040"),
        "registry__registry-store_0": _proxy("registry__registry-store_0", "127.0.0.1:17100", "127.0.0.1:17000"),
        "odd": _proxy("odd", "127.0.0.1:17199", "127.0.0.1:1"),
    }
    listeners = {17000: ["etcd", "--name", "m0"], 17001: ["etcd", "--name", "m1"], 17042: ["python", "cpu"]}
    text, system = _draft(tmp_path, fake, listeners=listeners)
    assert {link.name: (link.toxiproxy, link.proxy) for link in system.links} == {
        "gateway->model-gpu-1": ("http://127.0.0.1:17070", "gateway__model-gpu-1"),
        "registry->registry-store[0]": ("http://127.0.0.1:17070", "registry__registry-store_0"),
    }
    assert "proxy 'odd'" in text  # a proxy whose name is not FROM__TO is left to the user, said so
    names = {c.name for c in system.components}
    assert {"registry-store[0]", "registry-store[1]", "model-cpu-1"} <= names  # model-cpu-1: no model-cpu-0
    gpu = system.component("model-gpu-1")
    assert gpu.kind == "reference-modelserver" and "gpu-exhaustion" in gpu.faults
    assert gpu.admin_url == "http://127.0.0.1:17040" and gpu.admin_token_env == "CHAOSCTL_ADMIN_TOKEN"
    assert system.component("model-cpu-1").kind == "process"
    assert system.load.base_url == "http://127.0.0.1:17030" and system.load.auth.mint == "chaosctl-token"


def test_explicit_toxiproxy_url_is_read_without_toxiproxy_metrics(tmp_path: Path) -> None:
    fake = FakeBackends([], ["up"], ["__name__"], [])
    fake.proxies["http://tox.test:8474"] = {"api__db": _proxy("api__db", "127.0.0.1:1", "127.0.0.1:2")}
    text = render(gather(PROM, None, transport=httpx.MockTransport(fake), toxiproxy=["http://tox.test:8474/"]), {})
    path = tmp_path / "d.yaml"
    path.write_text(text)
    system = load_system(path)
    assert [(link.name, link.proxy) for link in system.links] == [("api->db", "api__db")]
    assert system.load is None  # no chaosctl gateway: where the load goes is the user's to write


def test_unreachable_toxiproxy_is_named() -> None:
    fake = FakeBackends([], ["up"], ["__name__"], [])
    with pytest.raises(StackUnavailable, match="Toxiproxy at http://tox.test:8474"):
        gather(PROM, None, transport=httpx.MockTransport(fake), toxiproxy=["http://tox.test:8474"])


def test_the_left_out_service_is_the_one_runs_export() -> None:
    from chaosctl.runner.telemetry import SERVICE
    from chaosctl.system.discover import OWN_TRACE_SERVICES

    assert SERVICE in OWN_TRACE_SERVICES
