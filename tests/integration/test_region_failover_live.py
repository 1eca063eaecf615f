"""A second region on the real stack (issue 13 part 5): region-loss.yaml, its phases shortened,
partitions region a (Toxiproxy holds every byte on the gateway's links into it) under load.

One module-scoped stack of the components this needs (etcd, Toxiproxy, Jaeger, Prometheus, the
prediction cache, the registry, both regions' model servers, the gateway) runs the scenario
twice, both in the fixture (so the gateway restarts in between are no test's leak):
- as shipped: PASS; the gateway failed over to region b, which carried the traffic, the
  partition's effect is confirmed (region a's spans stopped), the latency cost is printed
  (p50/p99 before vs during), nothing is left behind but the stack's own cross-region toxic;
- with the gateway restarted under CHAOSCTL_GATEWAY_REGION_FAILOVER=0: FAIL, its failed checks
  naming the cause (no failover to region b, region b carried nothing).

Command: CHAOSCTL_TEST_PORT_BASE=23000 .venv/bin/python -m pytest -s -p no:cacheprovider \
    --basetemp=/tmp/region-pt tests/integration/test_region_failover_live.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _run_live import toxics_left, wait_serving
from conftest import PORT_BASE, skip_unless_binaries, stack_settings

from chaosctl.faults.base import FaultContext
from chaosctl.faults.journal import Journal
from chaosctl.faults.link import ToxiproxyClient
from chaosctl.report import write_reports_safely
from chaosctl.runner.engine import Run
from chaosctl.runner.signals import SignalGuard
from chaosctl.settings import Settings
from chaosctl.stack.local import LocalBackend
from chaosctl.stack.regions import STANDING_TOXIC, servers_in
from chaosctl.stack.topology import PREDICTION_CACHE, Topology
from chaosctl.system.fit import resolve_for_run

pytestmark = pytest.mark.integration

OFFSET = 2600  # docs/contracts.md lists the offsets in use
SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "region-loss.yaml"
FAILOVER_ENV = "CHAOSCTL_GATEWAY_REGION_FAILOVER"


def _components(topo: Topology) -> tuple[str, ...]:
    return (*topo.etcd_members, "toxiproxy", "jaeger", "prometheus", PREDICTION_CACHE, "registry",
            *servers_in("a"), *servers_in("b"), "gateway")  # fmt: skip


# The test's copy: shorter phases, so each request failed in the transition weighs more (at
# ~10 req/s a 14 s phase holds ~100-300): availability during the loss 90%; the absolute baseline
# bounds are dropped (a loaded test machine's latency says nothing about the failover).
# The shipped failover latency bounds stay (p50 within 100 ms of the baseline's, p99 under 5 s): ratios to the
# baseline failed on a quiet machine (CI trial: baseline p50 17.8 ms -> 39.1 ms with the 20 ms
# cross-region latency, p99 50.8 ms -> 2540 ms from the 1 s tries that time out before the breakers
# open), where the cost is the same milliseconds over a much smaller baseline.
OBJECTIVES = {"availability during the loss": ">= 90%"}
DROPPED = {"baseline p50", "baseline p99"}


def _short(tmp: Path) -> Path:
    raw = yaml.safe_load(SCENARIO.read_text())
    for phase, seconds in zip(raw["phases"], ("10s", "14s", "6s")):
        phase["duration"] = seconds
    raw["slos"] = [s | ({"objective": OBJECTIVES[s["name"]]} if s["name"] in OBJECTIVES else {})
                   for s in raw["slos"] if s["name"] not in DROPPED]  # fmt: skip
    path = tmp / "region-loss.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _run(settings: Settings, backend: LocalBackend, scenario_path: Path, out: Path) -> dict[str, Any]:
    """The scenario in this process, its faults through this stack's backend (only these components)."""
    scenario, system, _ = resolve_for_run(scenario_path, None, settings.port_base)
    ctx = FaultContext(settings, Topology(settings.port_base), backend_factory=lambda: backend, system=system)
    with SignalGuard() as guard:
        report = Run(scenario, settings, fault_ctx=ctx, live="off").execute(guard)
    write_reports_safely(report, out)
    data = json.loads((out / "report.json").read_text())
    for c in data["checks"]:
        print(f"{c['status']:>5} {c['phase']:>13} {c['name']}: {c['observed']} ({c['objective']}) {c.get('reason') or ''}")
    return data


def _restart_gateway(backend: LocalBackend, failover: bool) -> None:
    backend.kill("gateway")
    if not failover:
        os.environ[FAILOVER_ENV] = "0"  # the gateway's environment is this process's (stack.components)
    try:
        backend.start("gateway")
    finally:
        os.environ.pop(FAILOVER_ENV, None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("region")
    settings = stack_settings(tmp / "state", PORT_BASE + OFFSET)
    skip_unless_binaries(settings)
    topo = Topology(settings.port_base)
    backend = LocalBackend(settings, components=_components(topo))
    try:
        backend.up()
        scenario = _short(tmp)
        wait_serving(settings, topo)
        out: dict[str, Any] = {"settings": settings, "topology": topo}
        out["pass"] = _run(settings, backend, scenario, tmp / "pass")
        out["left"] = toxics_left(topo)
        out["standing"] = _standing(topo)
        _restart_gateway(backend, failover=False)
        wait_serving(settings, topo)
        out["broken"] = _run(settings, backend, scenario, tmp / "broken")
        out["pending"] = Journal(settings.journal_path).pending()
        yield out
    finally:
        backend.down()


def _standing(topo: Topology) -> dict[str, list[str]]:
    client = ToxiproxyClient(topo.url("toxiproxy"))
    try:
        return {n: [t.name for t in client.toxics(topo.link_to("gateway", n).proxy_name)] for n in servers_in("b")}
    finally:
        client.close()


def _checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def test_region_loss_passes_by_failing_over_to_region_b_at_a_measured_latency_cost(runs: dict[str, Any]) -> None:
    report = runs["pass"]
    checks = _checks(report)
    assert report["verdict"] == "pass", [c for c in report["checks"] if c["status"] != "pass"]
    assert float(checks["gateway failed over to region b"]["observed"]) > 0
    assert checks["region-partition region:a took effect"]["status"] == "pass"
    lost = next(p for p in report["phases"] if p["name"] == "region-a-lost")
    (row,) = lost["faults"]
    assert row["effect"] == "confirmed" and "model-gpu-b1" in row["evidence"], row
    print("latency cost: p50 ->", checks["failover p50 cost"]["observed"], checks["failover p50 cost"]["objective"],
          "; p99 ->", checks["failover p99"]["observed"], checks["failover p99"]["objective"])  # fmt: skip
    # Nothing left behind but the stack's own cross-region latency, which the run never touched.
    assert runs["left"] == {}
    assert runs["standing"] == {n: [STANDING_TOXIC] for n in servers_in("b")}


def test_without_failover_region_loss_fails_naming_the_cause(runs: dict[str, Any]) -> None:
    report = runs["broken"]
    checks = _checks(report)
    assert report["verdict"] != "pass"
    assert checks["gateway failed over to region b"]["status"] == "fail"
    assert float(checks["gateway failed over to region b"]["observed"]) == 0
    assert checks["region b carries the traffic"]["status"] == "fail"
    assert checks["baseline stays in region a"]["status"] == "pass"  # the cause is the failover, nothing before it
    assert runs["pending"] == []  # the partition was reverted all the same
