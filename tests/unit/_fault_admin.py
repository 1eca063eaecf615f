"""Shared by the request-fault and canary-rollout unit tests (test_request_fault_specs,
test_rollout_fault): a scenario holding one fault, loaded from YAML text (so its FILE:LINE:COL
errors come at the same lines in both), and a FaultContext whose admin calls reach the real
gateway app in-process, over the hand-written fakes of _gateway_fakes."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from _gateway_fakes import CANARY, FakeStack, make_harness, record
from chaosctl.faults.base import FaultContext
from chaosctl.scenario import load_scenario
from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology

ADMIN = "0123456789abcdef0123456789abcdef-admin"
SCENARIO = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata:
  name: t
load:
  users: 2
  spawn_rate: 2
  requests:
    - {{model: fraud-detector}}
phases:
  - name: baseline
    duration: 5s
  - name: {phase}
    duration: {duration}
    faults:
{fault}
slos:
  - {{name: ok, sli: success_ratio, phase: baseline, objective: ">= 99%"}}
"""


def load_one_fault(tmp_path: Path, fault: str, phase: str = "fault", duration: str = "5s"):  # noqa: ANN201
    """The scenario whose second phase (`phase`, `duration`) holds `fault` (YAML lines, indented 6)."""
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(fault=fault, phase=phase, duration=duration))
    return load_scenario(path, Topology())


def admin_ctx(tmp_path: Path) -> tuple[FaultContext, TestClient, Settings]:
    """(context, the gateway app's client, settings): stable 2.3.1 and canary 2.4.0 on model-gpu-2."""
    settings = Settings(state_dir=tmp_path, port_base=24700, admin_token=ADMIN)
    h = make_harness(FakeStack(records=[record("model-gpu-2"), record("model-gpu-2", version="2.4.0")]),
                     canary=CANARY, admin_token=ADMIN)  # fmt: skip
    ctx = FaultContext(settings, Topology(settings.port_base), backend_factory=lambda: None)
    # TestClient is an httpx.Client: the fault's admin calls reach the in-process gateway app.
    ctx._http = TestClient(h.client.app, headers={"X-Admin-Token": ADMIN})
    return ctx, h.client, settings
