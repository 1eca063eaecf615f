"""The pipelined model on a real stack: one request through gateway -> preprocess -> model
server -> postprocess is one trace with the three stages as hops, and a run with one stage
slowed names it as the moved bottleneck, while the same stage slowed past its deadline FAILs
naming the stage (a variant of scenarios/slow-stage.yaml with short phases).

The module's own stack holds only what the pipeline needs (no second region, autoscaler or
Kafka: lean, and not at the mercy of a JVM's start on a busy machine); the run sees it as a
System of processes, whose links are the stack's Toxiproxy proxies.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from ruamel.yaml import YAML

from _gateway_live import Live, new_traceparent, wait_until
from _run_live import chaosctl, toxics_left
from chaosctl.stack.local import LocalBackend
from chaosctl.stack.topology import PIPELINE_MODEL, PIPELINE_STAGES, Topology
from chaosctl.system.reference import reference_data, to_yaml

pytestmark = pytest.mark.integration
OFFSET = 2000  # this module's own stack: CHAOSCTL_TEST_PORT_BASE + 2000
SERVICES = ("registry", "model-gpu-1", *PIPELINE_STAGES, "gateway")
COMPONENTS = ("registry-store[0]", "registry-store[1]", "registry-store[2]", "toxiproxy", "jaeger", "prometheus",
              "prediction-cache", *SERVICES)
SHIPPED = Path(__file__).resolve().parents[2] / "scenarios" / "slow-stage.yaml"
STAGE_OPS = {"preprocess": "stage preprocess", "postprocess": "stage postprocess"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from conftest import PORT_BASE, skip_unless_binaries, stack_settings

    settings = stack_settings(tmp_path_factory.mktemp("pipeline-stack"), PORT_BASE + OFFSET)
    skip_unless_binaries(settings)
    backend = LocalBackend(settings, components=COMPONENTS)
    try:
        backend.up()
        with httpx.Client(timeout=10.0) as client:
            yield from _ready(Live(settings, backend.topology, client))
    finally:
        backend.down()


def _ready(lv: Live) -> Iterator[Live]:
    rows = [[random.uniform(-1.0, 1.0) for _ in range(20)]]
    wait_until(lambda: lv.predict(PIPELINE_MODEL, inputs=rows).status_code == 200, 60, "a first pipelined prediction")
    yield lv


def _system(topology: Topology, path: Path) -> Path:
    """The reference System cut to this stack: its services as processes (found by command line),
    the links among them as the stack's Toxiproxy proxies."""
    data = reference_data(topology)
    data["components"] = [{"name": name, "kind": "process", "url": topology.url(name),
                           "match": rf"chaosctl\.services {name} --port-base {topology.port_base}$"}
                          for name in SERVICES]  # fmt: skip
    data["links"] = [ln for ln in data["links"] if all(end in SERVICES for end in ln["name"].split("->"))]
    data["traces"] = {"services": ["gateway", *(n for n in SERVICES if n != "gateway")]}
    path.write_text(to_yaml(data))
    return path


def _complete(spans: list[dict]) -> bool:
    """The gateway's root is in, and a server span of each hop under a gateway span. Each service
    exports in its own batches, and the root ends (so is queued) last: one gateway span in Jaeger
    did not mean its root was (CI trial: the trace had no root yet, StopIteration)."""
    gateway = {s["spanID"] for s in spans if s["service"] == "gateway"}
    root = any(s["service"] == "gateway" and s["operationName"].startswith("POST /v1/models") for s in spans)

    def under_gateway(service: Callable[[str], bool]) -> bool:
        return any(service(s["service"]) and any(r["refType"] == "CHILD_OF" and r["spanID"] in gateway
                                                 for r in s.get("references", [])) for s in spans)  # fmt: skip

    return root and all(under_gateway(f) for f in (
        lambda n: n == "preprocess", lambda n: n == "postprocess", lambda n: n.startswith("model-")))


def test_one_pipelined_request_is_one_trace_with_the_three_stages_as_hops(live: Live) -> None:
    trace_id, traceparent = new_traceparent()
    resp = live.predict(PIPELINE_MODEL, traceparent=traceparent, inputs=[[random.uniform(-1, 1) for _ in range(20)]])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == PIPELINE_MODEL and body["outputs"][0] in ("allow", "review", "block")
    spans = live.jaeger_trace(trace_id, _complete)
    by_id = {s["spanID"]: s for s in spans}

    def parent(s: dict) -> dict | None:
        refs = [r for r in s.get("references", []) if r["refType"] == "CHILD_OF"]
        return by_id.get(refs[0]["spanID"]) if refs else None

    root = next(s for s in spans if s["service"] == "gateway" and s["operationName"].startswith("POST /v1/models"))
    hops = sorted((s for s in spans if parent(s) is root and (s["operationName"] in STAGE_OPS.values()
                                                              or s["operationName"].startswith("upstream "))),
                  key=lambda s: s["startTime"])  # fmt: skip
    assert [h["operationName"].split()[0] for h in hops] == ["stage", "upstream", "stage"], [h["operationName"] for h in hops]
    assert hops[0]["operationName"] == "stage preprocess" and hops[2]["operationName"] == "stage postprocess"
    # Each hop's server span hangs under the gateway's call of it: context crossed every hop.
    for hop, service in zip(hops, ("preprocess", hops[1]["tags"]["server"], "postprocess")):
        assert any(s["service"] == service and parent(s) is hop for s in spans), f"no {service} span under {hop['operationName']}"
    # In order: preprocess ends before inference starts, inference before postprocess.
    assert hops[0]["startTime"] + hops[0]["duration"] <= hops[1]["startTime"] + 1000
    assert hops[1]["startTime"] + hops[1]["duration"] <= hops[2]["startTime"] + 1000


def _variant(tmp_path: Path, system: Path) -> Path:
    """The shipped scenario, short, with one more phase: the same stage slowed past its 1 s deadline."""
    yaml = YAML()
    data = yaml.load(SHIPPED.read_text())
    baseline, slow, recovery = data["phases"]
    stalled = {"name": "stalled-stage", "duration": "10s",
               "faults": [{**dict(slow["faults"][0]), "latency": "1200ms", "expect_effect": False}]}
    baseline["duration"], slow["duration"], recovery["duration"] = "10s", "10s", "6s"
    data["phases"] = [baseline, slow, stalled, recovery]
    data["system"] = str(system)
    data["abort"] = []  # the stalled phase fails every pipelined request: judged, not aborted
    for t in data["traces"]:
        t["min_traces"] = 40
    path = tmp_path / "slow-stage-variant.yaml"
    with path.open("w") as fh:
        yaml.dump(data, fh)
    return path


def test_the_slow_stage_is_the_moved_bottleneck_and_past_its_deadline_it_fails_naming_it(live: Live, tmp_path: Path) -> None:
    out = tmp_path / "report"
    scenario = _variant(tmp_path, _system(live.topology, tmp_path / "pipeline.system.yaml"))
    proc = chaosctl(live.settings, "run", str(scenario), "--report-dir", str(out), timeout=200)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    checks = {(c["name"], c["phase"]): c for c in report["checks"]}
    # Slowed within the deadline: the stage moved to the top of the critical path, nothing failed.
    top = report["bottlenecks"]["slow-stage"][0]
    assert (top["service"], top["operation"]) == ("gateway", "stage postprocess"), report["bottlenecks"]["slow-stage"][:3]
    assert top["delta_share_vs_baseline"] > 0
    assert checks[("bottleneck is gateway: stage postprocess", "slow-stage")]["status"] == "pass"
    assert checks[("postprocess within its deadline", "slow-stage")]["status"] == "pass"
    # Past the deadline: every pipelined request is a 503 and the failing check names the stage.
    deadline = checks[("postprocess within its deadline", "stalled-stage")]
    assert deadline["status"] == "fail" and float(deadline["observed"]) >= 10, deadline
    assert checks[("availability", "stalled-stage")]["status"] == "fail"
    assert "verdict: FAIL" in proc.stdout
    assert toxics_left(live.topology) == {}
