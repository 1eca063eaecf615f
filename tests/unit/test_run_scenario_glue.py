"""Scenario models -> the run's inputs: abort conditions (built-in SLI and raw PromQL),
the Locust load plan (request mix, steps and spike shapes shifted by the warm-up)."""

from __future__ import annotations

import textwrap

from chaosctl.runner.scenario_glue import FOREVER_S, abort_conditions, load_plan, warmup_seconds
from chaosctl.scenario import load_scenario

HEAD = """
apiVersion: chaosctl/v1
kind: Scenario
metadata: {name: glue}
phases:
  - {name: baseline, duration: 10s}
"""


def scenario(tmp_path, body: str):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(HEAD) + textwrap.dedent(body))
    return load_scenario(path)


def test_abort_conditions_both_forms(tmp_path):
    s = scenario(tmp_path, """
        load: {users: 4, spawn_rate: 2, requests: [{model: fraud-detector}]}
        abort:
          - {when: error_ratio > 0.5, for: 5s}
          - {name: queue, promql: 'max(chaosctl_model_queue_depth)', condition: '> 40', for: 2s}
          - {when: latency_p99 > 2s}
        """)
    err, queue, p99 = abort_conditions(s)
    assert (err.op, err.threshold, err.for_s) == (">", 0.5, 5.0)
    assert 'code=~"5.."' in err.promql and "[3000ms]" in err.promql
    assert (queue.name, queue.promql, queue.op, queue.threshold, queue.for_s) == \
        ("queue", "max(chaosctl_model_queue_depth)", ">", 40.0, 2.0)
    assert p99.threshold == 2.0 and p99.promql.startswith("histogram_quantile(0.99")


def test_load_plan_mix_and_warmup(tmp_path):
    s = scenario(tmp_path, """
        load:
          users: 20
          spawn_rate: 10
          workers: 3
          requests:
            - {model: fraud-detector, version: "2.x", weight: 9, batch: 4}
            - {model: image-classifier, weight: 1}
        """)
    assert warmup_seconds(s) == 3.0
    plan = load_plan(s, 3.0)
    assert (plan.users, plan.spawn_rate, plan.workers, plan.stages) == (20, 10, 3, ())
    fraud, image = plan.requests
    assert (fraud.model, fraud.version, fraud.weight, fraud.batch, fraud.features) == ("fraud-detector", "2.x", 9, 4, 20)
    assert (image.version, image.features) == (None, 64)


def test_steps_and_spike_shapes_are_shifted_by_the_warmup(tmp_path):
    steps = scenario(tmp_path, """
        load:
          users: 5
          spawn_rate: 5
          requests: [{model: fraud-detector}]
          shape: {type: steps, steps: [{users: 5, duration: 10s}, {users: 20, duration: 10s, spawn_rate: 20}]}
        """)
    assert [(st.end_s, st.users, st.spawn_rate) for st in load_plan(steps, 2.0).stages] == \
        [(12.0, 5, 5.0), (FOREVER_S, 20, 20.0)]
    spike = scenario(tmp_path, """
        load:
          users: 5
          spawn_rate: 5
          requests: [{model: fraud-detector}]
          shape: {type: spike, users: 50, at: 4s, duration: 3s}
        """)
    assert [(st.end_s, st.users) for st in load_plan(spike, 2.0).stages] == [(6.0, 5), (9.0, 50), (FOREVER_S, 5)]
