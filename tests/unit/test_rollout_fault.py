"""canary-rollout: the scenario spec (FILE:LINE:COL errors), its journal record and admin body,
and inject/verify/revert against the real gateway app in-process (the rollout starts, routes,
and is cancelled at the revert, also from the journal as `recover` does)."""

from __future__ import annotations

from pathlib import Path

import pytest

from _fault_admin import admin_ctx, load_one_fault
from _gateway_fakes import CANARY
from chaosctl.errors import ScenarioInvalid
from chaosctl.faults.base import record_from_spec
from chaosctl.faults.catalogue import build_fault, fault_from_record
from chaosctl.faults.rollout import rollout_body
from chaosctl.scenario.faults import CanaryRollout

ROLLOUT = ("      - {type: canary-rollout, target: gateway, model: fraud-detector, stable: '2.3.1', canary: '2.4.0', "
           "steps: '10%,50%,100%', step_interval: 5s, window: 8s, min_samples: 4, auto_rollback: false, "
           "max_latency_ratio: 3, latency_slack: 250ms, latency_min_samples: 30, latency_warmup: 4s}")  # fmt: skip
BASE = "      - {type: canary-rollout, target: gateway, model: m, stable: '1', canary: '2', "


def _load(tmp_path: Path, fault: str):  # noqa: ANN202
    return load_one_fault(tmp_path, fault, phase="rollout", duration="30s")


def test_a_rollout_loads_and_becomes_the_admin_apis_body(tmp_path: Path) -> None:
    spec = _load(tmp_path, ROLLOUT).phases[1].faults[0]
    assert isinstance(spec, CanaryRollout)
    assert spec.describe() == ("canary-rollout gateway (fraud-detector 2.3.1 -> 2.4.0, 10%,50%,100% every 5s, "
                               "automatic rollback off)")  # fmt: skip
    rec = record_from_spec(spec)
    assert all(isinstance(v, (str, int, float, bool)) for v in rec.params.values())
    assert rollout_body(rec) == {"stable": "2.3.1", "canary": "2.4.0", "steps": [0.1, 0.5, 1.0], "auto_rollback": False,
                                 "step_interval_s": 5.0, "window_s": 8.0, "min_samples": 4, "max_latency_ratio": 3.0,
                                 "latency_slack_s": 0.25, "latency_min_samples": 30, "latency_warmup_s": 4.0}  # fmt: skip


def test_the_latency_bounds_default_to_the_gateways_and_an_old_journal_record_leaves_them_to_it(tmp_path: Path) -> None:
    from chaosctl.services.gateway.rollout import RolloutPolicy

    spec = _load(tmp_path, BASE + "}").phases[1].faults[0]
    body = rollout_body(record_from_spec(spec))
    policy = RolloutPolicy().model_dump()
    assert {k: body[k] for k in ("max_latency_ratio", "latency_slack_s", "latency_min_samples", "latency_warmup_s")} == {
        k: policy[k] for k in ("max_latency_ratio", "latency_slack_s", "latency_min_samples", "latency_warmup_s")}
    old = record_from_spec(spec)
    old.params.pop("latency_min_samples"), old.params.pop("latency_warmup")  # a journal from before the parameters
    assert "latency_min_samples" not in rollout_body(old) and "latency_warmup_s" not in rollout_body(old)


@pytest.mark.parametrize(("fault", "says"), [
    ("      - {type: canary-rollout, target: registry, model: m, stable: '1', canary: '2'}", "gateway"),
    ("      - {type: canary-rollout, target: gateway, model: m, stable: '1', canary: '2', steps: '50%,25%,100%'}", "must rise"),
    ("      - {type: canary-rollout, target: gateway, model: m, stable: '1', canary: '2', steps: '5%,50%'}", "to 100%"),
    ("      - {type: canary-rollout, target: gateway, model: m, stable: '1', canary: '2', steps: 'five'}", "percentages"),
    ("      - {type: canary-rollout, target: gateway, model: m, stable: '1'}", "canary"),
    ("      - {type: canary-rollout, target: gateway, model: m, stable: '1', canary: '2', min_samples: 0}", "min_samples"),
    (BASE + "max_latency_ratio: 0.5}", "max_latency_ratio"),
    (BASE + "max_latency_ratio: 1000}", "max_latency_ratio"),
    (BASE + "latency_slack: -1s}", "latency_slack"),
    (BASE + "latency_slack: 2m}", "latency_slack must be at least 0 and at most 1m"),
    (BASE + "latency_slack: fast}", "latency_slack"),
    (BASE + "latency_min_samples: 5}", "latency_min_samples"),
    (BASE + "latency_warmup: 2h}", "latency_warmup must be at least 0 and at most 1h"),
    (BASE + "step_interval: 0s}", "step_interval must be above 0"),
    (BASE + "window: 2h}", "window must be above 0 and at most 1h"),
])  # fmt: skip
def test_bad_rollouts_are_refused_at_their_line(tmp_path: Path, fault: str, says: str) -> None:
    with pytest.raises(ScenarioInvalid) as got:
        _load(tmp_path, fault)
    text = str(got.value)
    assert "s.yaml:16:" in text and says in text, text


def test_inject_verify_revert_against_the_gateway_app(tmp_path: Path) -> None:
    ctx, client, _ = admin_ctx(tmp_path)  # the fault's admin calls reach the gateway app in-process
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    spec = _load(tmp_path, ROLLOUT).phases[1].faults[0]
    fault = build_fault(spec, ctx)
    fault.inject()
    assert fault.verify() == "gateway: rollout of fraud-detector 2.3.1 -> 2.4.0 progressing at 10%"
    assert gateway.rollouts.rules()[0].canary_weight == 0.1
    policy = gateway.rollouts.get("fraud-detector").policy
    assert not policy.auto_rollback and (policy.max_latency_ratio, policy.latency_slack_s, policy.latency_min_samples,
                                         policy.latency_warmup_s) == (3.0, 0.25, 30, 4.0)  # fmt: skip
    fault_from_record(fault.record, ctx).revert()  # as `recover` does, from the journal's record
    assert gateway.rollouts.get("fraud-detector") is None and gateway.rollouts.rules() == CANARY
    fault.revert()  # twice is fine: nothing left to cancel
    with pytest.raises(Exception, match="no rollout"):
        fault.verify()
