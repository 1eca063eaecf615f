"""gpu-device-lost, gpu-ecc-error, gpu-thermal-throttle: scenario validation (FILE:LINE:COL
messages), and inject / verify / revert / `chaosctl recover` against a real model-server app
(in process, through the admin API with its token)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_modelserver_engine import SERVICE_TOKEN, TOKEN, _engine, _wait_ready, fast_trainer

from chaosctl.errors import FaultError, ScenarioInvalid
from chaosctl.faults.base import FaultContext
from chaosctl.faults.catalogue import build_fault
from chaosctl.faults.journal import Journal
from chaosctl.runner.recover import recover_faults
from chaosctl.scenario import load_scenario
from chaosctl.services.modelserver.app import create_app
from chaosctl.services.telemetry import Telemetry
from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology

SCENARIO = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata: {{name: gpu-faults-unit}}
load:
  users: 2
  spawn_rate: 2
  requests: [{{model: fraud-detector}}]
phases:
  - {{name: baseline, duration: 5s}}
  - name: fault
    duration: 10s
    faults:
      - {fault}
"""


def _load(tmp_path: Path, fault: str):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(fault=fault))
    return path, load_scenario(path)


@pytest.mark.parametrize("fault,describe", [
    ("{type: gpu-device-lost, target: model-gpu-1}", "gpu-device-lost model-gpu-1 (simulated)"),
    ("{type: gpu-ecc-error, target: model-gpu-2, rate: 50%}", "gpu-ecc-error model-gpu-2 (50% of batches fail, simulated)"),
    ("{type: gpu-ecc-error, target: model-gpu-2, count: 3}", "gpu-ecc-error model-gpu-2 (next 3 batches fail, simulated)"),
    ("{type: gpu-thermal-throttle, target: model-gpu-1, factor: 4}", "gpu-thermal-throttle model-gpu-1 (batch time x4, simulated)"),
])  # fmt: skip
def test_valid_specs(tmp_path: Path, fault: str, describe: str) -> None:
    _, scenario = _load(tmp_path, fault)
    assert scenario.phases[1].faults[0].describe() == describe


@pytest.mark.parametrize("fault,message", [
    ("{type: gpu-device-lost, target: model-cpu-1}", "unknown GPU server target 'model-cpu-1'"),
    ("{type: gpu-device-lost, target: model-gpu-1, factor: 2}", "unknown field 'factor'"),
    ("{type: gpu-ecc-error, target: model-gpu-2}", "needs exactly one of rate (e.g. 50%) or count"),
    ("{type: gpu-ecc-error, target: model-gpu-2, rate: 50%, count: 2}", "needs exactly one of rate"),
    ("{type: gpu-ecc-error, target: model-gpu-2, rate: 0%}", "rate must be above 0%"),
    ("{type: gpu-ecc-error, target: model-gpu-2, count: 0}", "count"),
    ("{type: gpu-thermal-throttle, target: model-gpu-1, factor: 1}", "factor"),
    ("{type: gpu-thermal-throttle, target: model-gpu-1}", "factor"),
    ("{type: gpu-thermal-throttle, target: model-gpu-1, factor: 500}", "factor"),
])  # fmt: skip
def test_bad_specs_name_file_line_and_column(tmp_path: Path, fault: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(fault=fault))
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(path)
    lines = info.value.messages
    assert all(re.match(rf"^{re.escape(str(path))}:13:\d+: phases\[1\]\.faults\[0\]", m) for m in lines), lines
    assert any(message in m for m in lines), lines


@pytest.fixture
def server():
    engine = _engine("model-gpu-1")
    tel = Telemetry("model-gpu-1", None, exporter=InMemorySpanExporter())
    app = create_app(engine, tel, TOKEN, trainer=fast_trainer, service_token=SERVICE_TOKEN)
    with TestClient(app) as client:
        _wait_ready(client)
        yield app, client


def _ctx(tmp_path: Path, app, token: str = TOKEN) -> FaultContext:
    settings = Settings(state_dir=tmp_path, port_base=24700)
    ctx = FaultContext(settings, Topology(settings.port_base), backend_factory=lambda: None)
    ctx._http = TestClient(app, headers={"X-Admin-Token": token})  # an httpx.Client into the app
    return ctx


def _state(client: TestClient) -> dict:
    return client.get("/admin/gpu", headers={"X-Admin-Token": TOKEN}).json()["faults"]


def test_inject_verify_revert_each_fault_through_the_admin_api(tmp_path: Path, server) -> None:
    app, client = server
    for fault, check in [
        ("{type: gpu-device-lost, target: model-gpu-1}", lambda s: s["device_lost"]),
        ("{type: gpu-ecc-error, target: model-gpu-1, rate: 25%}", lambda s: s["ecc"]["rate"] == 0.25),
        ("{type: gpu-ecc-error, target: model-gpu-1, count: 2}", lambda s: s["ecc"]["count"] == 2),
        ("{type: gpu-thermal-throttle, target: model-gpu-1, factor: 3}", lambda s: s["throttle_factor"] == 3.0),
    ]:
        _, scenario = _load(tmp_path, fault)
        ctx = _ctx(tmp_path, app)
        built = build_fault(scenario.phases[1].faults[0], ctx)
        with pytest.raises(FaultError, match="not in effect"):
            built.verify()
        built.inject()
        assert check(_state(client))
        assert "(simulated)" in built.verify()
        built.revert()
        built.revert()  # idempotent
        state = _state(client)
        assert not state["device_lost"] and state["ecc"] == {"rate": 0.0, "count": 0, "left": 0}
        assert state["throttle_factor"] == 1.0
        ctx.close()


def test_a_wrong_admin_token_is_a_clear_fault_error(tmp_path: Path, server) -> None:
    app, _ = server
    _, scenario = _load(tmp_path, "{type: gpu-device-lost, target: model-gpu-1}")
    with pytest.raises(FaultError, match="refused this install's admin token"):
        build_fault(scenario.phases[1].faults[0], _ctx(tmp_path, app, token="x" * 40)).inject()


def test_recover_clears_every_new_gpu_fault_from_the_journal(tmp_path: Path, server) -> None:
    app, client = server
    ctx = _ctx(tmp_path, app)
    journal = Journal(ctx.settings.journal_path)
    for fault in ("{type: gpu-device-lost, target: model-gpu-1}", "{type: gpu-ecc-error, target: model-gpu-1, count: 5}",
                  "{type: gpu-thermal-throttle, target: model-gpu-1, factor: 8}"):  # fmt: skip
        _, scenario = _load(tmp_path, fault)
        built = build_fault(scenario.phases[1].faults[0], ctx)
        journal.record_inject(built.record)  # as the run does: journal first, then inject; then "SIGKILL"
        built.inject()
    state = _state(client)
    assert state["device_lost"] and state["ecc"]["count"] == 5 and state["throttle_factor"] == 8.0
    lines: list[str] = []
    assert recover_faults(ctx.settings, lines.append, ctx=ctx) == 3
    assert len([x for x in lines if x.startswith("reverted gpu-")]) == 3, lines
    state = _state(client)
    assert not state["device_lost"] and state["ecc"]["count"] == 0 and state["throttle_factor"] == 1.0
    assert journal.pending() == []


def test_revert_on_a_server_that_is_gone_has_nothing_left_to_undo(tmp_path: Path) -> None:
    """The faults live in the server's memory: a server that refuses connections (stopped, or
    `chaosctl down` before `recover`) holds none, so the revert is done, not a failure that keeps
    `recover` at exit 4 until a server that will never come back answers."""
    import httpx

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    settings = Settings(state_dir=tmp_path, port_base=24700)
    ctx = FaultContext(settings, Topology(settings.port_base), backend_factory=lambda: None)
    ctx._http = httpx.Client(transport=httpx.MockTransport(refused))
    journal = Journal(settings.journal_path)
    for fault in ("{type: gpu-device-lost, target: model-gpu-1}", "{type: gpu-ecc-error, target: model-gpu-1, count: 5}",
                  "{type: gpu-thermal-throttle, target: model-gpu-1, factor: 8}",
                  "{type: gpu-exhaustion, target: model-gpu-1, memory: 50%}"):  # fmt: skip
        _, scenario = _load(tmp_path, fault)
        built = build_fault(scenario.phases[1].faults[0], ctx)
        journal.record_inject(built.record)
        with pytest.raises(FaultError, match="unreachable"):
            built.inject()  # an inject still says so
    lines: list[str] = []
    left = len(journal.pending())
    assert left >= 1 and recover_faults(settings, lines.append, ctx=ctx) == left, lines
    assert journal.pending() == []
