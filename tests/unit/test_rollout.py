"""The progressive canary controller (services/gateway/rollout.py) with a fake clock, and the
gateway wiring: admin API behind the token, routing by the rollout's weight, metrics, span events."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest
from pydantic import ValidationError

from chaosctl.services.gateway.rollout import Rollout, RolloutPolicy, RolloutRecorder, Rollouts, RolloutStart, Transition
from chaosctl.services.gateway.routing import CanaryRule

from _gateway_fakes import CANARY, FakeClock, FakeStack, make_harness, record

ADMIN = "0123456789abcdef0123456789abcdef-admin"
FAST = {"steps": [0.05, 0.25, 0.5, 1.0], "step_interval_s": 10, "window_s": 10, "min_samples": 20, "rollback_min_samples": 5}


def start(clock: FakeClock, **policy: object) -> Rollout:
    rollouts = Rollouts(clock, CANARY)
    rollout, opening = rollouts.start("fraud-detector", RolloutStart(stable="2.3.1", canary="2.4.0", **{**FAST, **policy}))
    assert (opening.kind, opening.to_weight) == ("step", 0.05)
    return rollout


def traffic(r: Rollout, clock: FakeClock, seconds: float, *, canary_per_tick: int = 1, canary_error: float = 0.0,
            canary_latency: float = 0.05, stable_latency: float = 0.05) -> list[Transition]:  # fmt: skip
    """10 ticks a second: one stable answer and `canary_per_tick` canary answers per tick (a share of them 503)."""
    seen: list[Transition] = []
    errors = 0.0
    for _ in range(int(seconds * 10)):
        clock.advance(0.1)
        for version, n, latency in (("2.3.1", 1, stable_latency), ("2.4.0", canary_per_tick, canary_latency)):
            for _ in range(n):
                errors += canary_error if version == "2.4.0" else 0.0
                failed = version == "2.4.0" and errors >= 1
                errors -= 1 if failed else 0
                t = r.observe(version, 503 if failed else 200, latency, clock())
                seen += [t] if t is not None else []
    return seen


def test_promotes_through_every_step_while_healthy_then_holds_promoted() -> None:
    clock = FakeClock()
    r = start(clock)
    seen = traffic(r, clock, 45)
    assert [(t.kind, t.from_weight, t.to_weight) for t in seen] == [
        ("step", 0.05, 0.25), ("step", 0.25, 0.5), ("step", 0.5, 1.0), ("promoted", 1.0, 1.0)]  # fmt: skip
    assert r.state == "promoted" and r.weight == 1.0
    steps_at = [t.at for t in seen]
    assert all(b - a >= 10 for a, b in zip(steps_at, steps_at[1:]))  # never faster than the step interval
    assert traffic(r, clock, 20) == [] and r.rule() == CanaryRule("fraud-detector", "2.3.1", "2.4.0", 1.0)


def test_too_little_canary_data_holds_the_step_however_long_it_waits() -> None:
    clock = FakeClock()
    r = start(clock)
    for _ in range(12):  # 12 minutes, one canary answer a minute: never min_samples in a 10 s window
        r.observe("2.4.0", 200, 0.05, clock())
        for _ in range(50):
            clock.advance(0.2)
            r.observe("2.3.1", 200, 0.05, clock())
        clock.advance(50)
    assert r.state == "progressing" and r.weight == 0.05 and r.history[1:] == []
    assert r.health(clock()).canary_n < 20


def test_a_canary_error_ratio_over_the_bound_rolls_back_at_once_and_nothing_promotes_it_after() -> None:
    clock = FakeClock()
    r = start(clock)
    assert [t.kind for t in traffic(r, clock, 11)] == ["step"]  # at 25%
    fault_at = clock()
    seen = traffic(r, clock, 5, canary_error=1.0)
    assert [t.kind for t in seen] == ["rollback"]
    rb = seen[0]
    assert (rb.reason, rb.from_weight, rb.to_weight, r.state, r.weight) == ("error_ratio", 0.25, 0.0, "rolled_back", 0.0)
    # At once: as soon as the failures (one each 0.1 s) pass 5% of the window's ~100 canary answers,
    # plus at most one judgement interval.
    assert rb.at - fault_at <= 0.6 + 0.25 and rb.reaction_s is not None and 0.5 <= rb.reaction_s <= 0.85
    assert "5xx ratio" in rb.detail and "stable 0.0%" in rb.detail
    kept = sum(len(w) for w in r._samples.values())
    assert traffic(r, clock, 60) == [] and r.weight == 0.0 and r.state == "rolled_back"
    assert sum(len(w) for w in r._samples.values()) == kept  # a finished rollout stores nothing more


def test_an_error_ratio_within_the_delta_of_stable_is_not_a_breach() -> None:
    clock = FakeClock()
    r = start(clock, max_error_ratio_delta=0.05)
    seen = traffic(r, clock, 25, canary_error=0.03)  # 3% over stable's 0%: inside 5%
    assert [t.kind for t in seen] == ["step", "step"] and r.state == "progressing"


def test_canary_latency_over_the_bound_rolls_back_with_reason_latency() -> None:
    clock = FakeClock()
    r = start(clock, max_latency_ratio=2.0, latency_slack_s=0.05)
    seen = traffic(r, clock, 5, canary_latency=0.4, stable_latency=0.05)  # bound 2 x 50 ms + 50 ms = 150 ms
    assert [(t.kind, t.reason) for t in seen] == [("rollback", "latency")]
    assert "p90 400ms" in seen[0].detail and r.weight == 0.0


def test_latency_inside_the_bound_promotes() -> None:
    clock = FakeClock()
    r = start(clock)
    traffic(r, clock, 45, canary_latency=0.14, stable_latency=0.05)
    assert r.state == "promoted"


def test_a_p90_of_too_few_answers_is_no_latency_verdict() -> None:
    """10 canary answers, one slow: their "p90" is that one answer. Judged at 10 (the old rule:
    min_samples) it rolled a healthy canary back on noise; the latency waits for 20 answers,
    where one outlier no longer decides."""
    clock = FakeClock()
    r = start(clock, min_samples=10)
    for latency in [0.9] + [0.05] * 30:  # a cold first answer, then as fast as stable
        clock.advance(0.3)
        for _ in range(3):
            r.observe("2.3.1", 200, 0.05, clock())
        r.observe("2.4.0", 200, latency, clock())
        assert r.state == "progressing", r.history[-1]
    assert r.health(clock()).canary_latency_n == 31


def test_a_step_up_waits_until_the_latency_can_be_judged() -> None:
    clock = FakeClock()
    r = start(clock, min_samples=5, latency_min_samples=20, window_s=1.5)
    # 10 canary answers a second in a 1.5 s window: 15 >= min_samples but < latency_min_samples: hold
    assert traffic(r, clock, 30) == [] and r.weight == 0.05
    h = r.health(clock())
    assert h.canary_n >= 5 and h.stable_n >= 5 and h.canary_latency_n < 20


def test_the_canarys_first_answers_within_the_warmup_are_not_judged_on_latency() -> None:
    clock = FakeClock()
    cold = start(clock, latency_warmup_s=3)
    assert traffic(cold, clock, 3, canary_latency=0.6) == []  # slow while warming: not judged
    seen = traffic(cold, clock, 45)
    assert [t.kind for t in seen][-1] == "promoted", seen
    clock = FakeClock()
    judged = start(clock)  # the same canary without a warm-up: rolled back on its cold answers
    seen = traffic(judged, clock, 3, canary_latency=0.6)
    assert [(t.kind, t.reason) for t in seen] == [("rollback", "latency")] and "over 2" in seen[0].detail


def test_errors_in_the_warmup_still_roll_back() -> None:
    clock = FakeClock()
    r = start(clock, latency_warmup_s=30)
    seen = traffic(r, clock, 3, canary_error=1.0)
    assert [(t.kind, t.reason) for t in seen] == [("rollback", "error_ratio")]


def test_a_latency_breach_past_the_warmup_rolls_back_and_times_its_reaction_from_judged_answers() -> None:
    clock = FakeClock()
    r = start(clock, latency_warmup_s=2, max_latency_ratio=3.0, latency_slack_s=0.1)
    assert traffic(r, clock, 2, canary_latency=0.6) == []
    slow_from = clock()
    seen = traffic(r, clock, 5, canary_latency=0.3)  # bound 3 x 50 ms + 100 ms = 250 ms
    assert [(t.kind, t.reason) for t in seen] == [("rollback", "latency")]
    assert seen[0].reaction_s is not None and seen[0].reaction_s <= seen[0].at - slow_from + 1e-9


def test_latency_bounds_are_checked() -> None:
    for bad in ({"latency_min_samples": 9}, {"max_latency_ratio": 0.5}, {"max_latency_ratio": 101},
                {"latency_slack_s": -0.1}, {"latency_slack_s": 61}, {"latency_warmup_s": -1}, {"latency_warmup_s": 3601}):
        with pytest.raises(ValidationError):
            RolloutPolicy(**bad)  # type: ignore[arg-type]
    assert RolloutPolicy().latency_min_samples == 20 and RolloutPolicy().latency_warmup_s == 0.0


def test_with_automatic_rollback_off_a_breach_is_recorded_once_and_the_rollout_holds() -> None:
    clock = FakeClock()
    r = start(clock, auto_rollback=False)
    traffic(r, clock, 11)
    seen = traffic(r, clock, 30, canary_error=1.0)
    assert [(t.kind, t.reason) for t in seen] == [("breach", "error_ratio")]
    assert "automatic rollback is off" in seen[0].detail
    assert r.state == "progressing" and r.weight == 0.25 and r.breach == "error_ratio"


def test_policy_is_checked() -> None:
    for steps in ([0.5, 0.25, 1.0], [0.05, 0.5], [0.0, 1.0], [0.5, 0.5, 1.0]):
        with pytest.raises(ValidationError, match="steps must be"):
            RolloutPolicy(steps=tuple(steps))
    with pytest.raises(ValidationError):
        RolloutStart(stable="2.3.1", canary="2.4.0", surprise=1)  # type: ignore[call-arg]


def test_rules_replace_only_the_rolled_out_models_static_rule() -> None:
    clock = FakeClock()
    image = CanaryRule("image", "1.0.0", "1.1.0", 0.1)
    rollouts = Rollouts(clock, (*CANARY, image))
    assert rollouts.rules() == (*CANARY, image)
    rollouts.start("fraud-detector", RolloutStart(stable="2.3.1", canary="2.4.0", steps=(0.3, 1.0)))
    assert rollouts.rules() == (CanaryRule("fraud-detector", "2.3.1", "2.4.0", 0.3), image)
    assert rollouts.observe("image", "1.1.0", 500, 0.1) is None  # no rollout of image: not watched
    assert rollouts.cancel("fraud-detector") is not None and rollouts.rules() == (*CANARY, image)


@dataclass
class FakeAnnotator:
    posted: list[tuple[str, tuple[str, ...], float]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def annotate(self, text: str, tags: tuple[str, ...], start: float) -> int:
        self.posted.append((text, tags, start))
        self.done.set()
        return len(self.posted)

    def shutdown(self) -> None:
        pass


# ---------------------------------------------------------------- the gateway


def _gateway(annotator: FakeAnnotator | None = None):  # noqa: ANN202
    stack = FakeStack(records=[record("model-gpu-1"), record("model-gpu-2"), record("model-gpu-2", version="2.4.0")])
    h = make_harness(stack, seed=5, canary=CANARY, admin_token=ADMIN)
    if annotator is not None:
        h.client.app.state.gateway.rollout_recorder.annotator = annotator  # type: ignore[attr-defined]
    return h


def test_rollout_admin_api_needs_the_admin_token() -> None:
    h = _gateway()
    body = {"stable": "2.3.1", "canary": "2.4.0"}
    assert h.client.put("/admin/rollouts/fraud-detector", json=body).status_code == 401
    assert h.client.get("/admin/rollouts", headers={"X-Admin-Token": "wrong" * 8}).status_code == 401
    assert h.client.delete("/admin/rollouts/fraud-detector").status_code == 401
    ok = {"X-Admin-Token": ADMIN}
    assert h.client.get("/admin/rollouts/fraud-detector", headers=ok).status_code == 404
    assert h.client.put("/admin/rollouts/fraud-detector", json={**body, "steps": [0.5, 0.2]}, headers=ok).status_code == 422
    assert h.client.put("/admin/rollouts/fraud-detector", json={**body, "canary": "2.3.1"}, headers=ok).status_code == 422
    got = h.client.put("/admin/rollouts/fraud-detector", json=body, headers=ok).json()
    assert (got["state"], got["weight"], got["policy"]["auto_rollback"]) == ("progressing", 0.05, True)
    assert [r["model"] for r in h.client.get("/admin/rollouts", headers=ok).json()["rollouts"]] == ["fraud-detector"]
    assert h.client.delete("/admin/rollouts/fraud-detector", headers=ok).json()["cancelled"] is True
    assert h.client.get("/admin/rollouts", headers=ok).json()["rollouts"] == []


def test_gateway_steps_then_rolls_back_a_failing_canary_with_metric_span_event_and_annotation() -> None:
    annotator = FakeAnnotator()
    h = _gateway(annotator)
    ok = {"X-Admin-Token": ADMIN}
    labels = {"model": "fraud-detector", "version": "2.4.0"}
    assert h.metric("chaosctl_canary_weight", labels) == 0.05  # the static rule's series, at idle
    assert h.metric("chaosctl_canary_rollbacks_total", {**labels, "reason": "error_ratio"}) == 0
    policy = {"steps": [0.5, 1.0], "step_interval_s": 2, "window_s": 30, "min_samples": 5, "rollback_min_samples": 3,
              "latency_min_samples": 10}  # fmt: skip
    h.client.put("/admin/rollouts/fraud-detector", json={"stable": "2.3.1", "canary": "2.4.0", **policy}, headers=ok)
    assert h.metric("chaosctl_canary_weight", labels) == 0.5
    for i in range(40):  # healthy: the canary reaches 100%
        h.clock.advance(0.3)
        assert h.predict(body={"inputs": [[float(i), 0.5]]}).status_code == 200
    assert h.metric("chaosctl_canary_weight", labels) == 1.0 and h.metric("chaosctl_canary_steps_total", labels) >= 1
    fault = {"action": "abort", "status": 503, "match": {"model": "fraud-detector", "version": "2.4.0"}}
    h.client.put("/admin/request-faults/bad-canary", json=fault, headers=ok)
    h.client.put("/admin/rollouts/fraud-detector", json={"stable": "2.3.1", "canary": "2.4.0", **policy}, headers=ok)
    codes = []
    for i in range(40):
        h.clock.advance(0.3)
        codes.append(h.predict(body={"inputs": [[float(i), 0.7]]}).status_code)
    status = h.client.get("/admin/rollouts/fraud-detector", headers=ok).json()
    assert (status["state"], status["weight"], status["reason"]) == ("rolled_back", 0.0, "error_ratio")
    assert 503 in codes and set(codes[-15:]) == {200}  # after the rollback every unpinned request goes to stable
    assert h.metric("chaosctl_canary_rollbacks_total", {**labels, "reason": "error_ratio"}) == 1
    assert h.metric("chaosctl_canary_weight", labels) == 0.0 and h.metric("chaosctl_canary_state", labels) == 3
    routes = [s for s in h.spans.get_finished_spans() if s.name == "POST /v1/models/{model}/predict"]
    events = [e for s in routes for e in s.events if e.name == "canary rollback"]
    assert len(events) == 1 and events[0].attributes["canary.reason"] == "error_ratio"
    assert any(e.name == "canary step" for s in routes for e in s.events)
    assert annotator.done.wait(5)
    h.client.app.state.gateway.rollout_recorder.close()  # type: ignore[attr-defined]
    assert any("canary rollback" in text and "canary" in tags for text, tags, _ in annotator.posted)


def test_recorder_counts_a_breach_not_a_rollback() -> None:
    from chaosctl.services.gateway.metrics import GatewayMetrics
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry()
    rec = RolloutRecorder(GatewayMetrics(reg))
    rec.export_static(CANARY)
    rec.record(Transition("breach", "fraud-detector", "2.4.0", 0.25, 0.25, 1.0, "latency", "slow"), "progressing")
    labels = {"model": "fraud-detector", "version": "2.4.0", "reason": "latency"}
    assert reg.get_sample_value("chaosctl_canary_breaches_total", labels) == 1
    assert reg.get_sample_value("chaosctl_canary_rollbacks_total", labels) == 0
