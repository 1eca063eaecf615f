"""The event path on the real stack (issue 13 part 2): a real Kafka broker (KRaft) behind its
Toxiproxy links, the gateway's asynchronous publisher and the batch analyser.

1. One prediction is one trace gateway -> Kafka -> analyser: the analyser's CONSUMER span is a
   child of the gateway's PRODUCER span (the W3C context rode in the message headers), and the
   event is delivered, windowed and analysed (the counters move).
2. The deliberately broken variant: the gateway restarted with CHAOSCTL_EVENTS_PUBLISH=sync (the
   request waits for the broker's ack) FAILs the shipped event-lag scenario (phases cut to
   10/10/12 s), and the failing checks name the cause: the request path waiting for Kafka while
   the broker is paused. The gateway is restarted in its shipped (async) mode afterwards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _gateway_live import Live, new_traceparent, wait_until
from _run_live import chaosctl
from ruamel.yaml import YAML

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios" / "event-lag.yaml"


def _analyser(live: Live, name: str, **labels: str) -> float:
    text = live.client.get(f"{live.topology.url('analyser')}/metrics").text
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.split(" ", 1)[0] == want)


def test_one_prediction_is_one_trace_through_kafka_to_the_analyser(live: Live) -> None:
    windows = _analyser(live, "chaosctl_analyser_windows_total")
    delivered = live.metric("chaosctl_gateway_events_delivered_total", result="ok")
    trace_id, parent = new_traceparent()
    assert live.predict(traceparent=parent).status_code == 200

    def through(spans: list[dict]) -> bool:
        return any(s["service"] == "analyser" for s in spans) and any(s["operationName"].startswith("publish") for s in spans)

    spans = live.jaeger_trace(trace_id, through, timeout_s=30.0)
    producer = next(s for s in spans if s["service"] == "gateway" and s["operationName"] == "publish scored-transactions")
    consumer = next(s for s in spans if s["service"] == "analyser")
    assert producer["tags"]["span.kind"] == "producer" and consumer["tags"]["span.kind"] == "consumer"
    assert consumer["references"][0]["spanID"] == producer["spanID"], "the analyser's span continues the gateway's"
    assert consumer["tags"]["messaging.destination.name"] == "scored-transactions"
    wait_until(lambda: _analyser(live, "chaosctl_analyser_windows_total") > windows, 10, "a window analysed")
    assert live.metric("chaosctl_gateway_events_delivered_total", result="ok") > delivered


def _short(tmp_path: Path) -> Path:
    yaml = YAML()
    data = yaml.load(SHIPPED.read_text())
    for phase, seconds in zip(data["phases"], ("10s", "10s", "12s")):
        phase["duration"] = seconds
    path = tmp_path / "event-lag-short.yaml"
    with path.open("w") as fh:
        yaml.dump(data, fh)
    return path


def _restart_gateway(stack, mode: str) -> None:  # noqa: ANN001
    """The gateway's process again, with CHAOSCTL_EVENTS_PUBLISH=mode (read once at its start)."""
    old = os.environ.get("CHAOSCTL_EVENTS_PUBLISH")
    os.environ["CHAOSCTL_EVENTS_PUBLISH"] = mode
    try:
        stack.backend.kill("gateway")
        wait_until(lambda: not stack.backend.is_running("gateway"), 10, "the gateway to exit")
        stack.backend.start("gateway")
    finally:
        if old is None:
            os.environ.pop("CHAOSCTL_EVENTS_PUBLISH", None)
        else:
            os.environ["CHAOSCTL_EVENTS_PUBLISH"] = old


def test_a_gateway_that_waits_for_kafka_fails_the_scenario_naming_the_cause(stack, live: Live, tmp_path: Path) -> None:  # noqa: ANN001
    _restart_gateway(stack, "sync")
    try:
        wait_until(lambda: live.predict().status_code == 200, 30, "the sync gateway answering")
        reports = tmp_path / "reports"
        result = chaosctl(stack.settings, "run", str(_short(tmp_path)), "--report-dir", str(reports), timeout=300)
    finally:
        _restart_gateway(stack, "async")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    report = json.loads((reports / "report.json").read_text())
    failed = {(c["name"], c["phase"]): c for c in report["checks"] if c["status"] == "fail"}
    cause = failed.get(("request path never waits for Kafka", "broker-paused"))
    assert cause is not None, failed
    assert float(cause["observed"]) > 0.25 and "is not < 0.25" in cause["reason"]
    assert ("broker-paused p99 vs baseline", "broker-paused") in failed, failed
    # Only the real-time side broke: nothing was lost on the event path.
    assert not [k for k in failed if k[0].startswith(("no event dropped", "event age bounded", "caught up"))], failed
    assert not stack.backend.is_paused("events")
    wait_until(lambda: live.predict().status_code == 200, 30, "the async gateway answering again")
