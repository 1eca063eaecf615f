"""Scenario loading and validation: typed models, and one FILE:LINE:COL line per problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chaosctl.errors import ScenarioInvalid
from chaosctl.scenario import load_scenario
from chaosctl.scenario.model import (
    SLO,
    AbsoluteObjective,
    BurnRateObjective,
    GpuExhaustion,
    Latency,
    ProcessKill,
    RelativeObjective,
    Scenario,
)
from chaosctl.stack.topology import Topology

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata:
  name: t
load:
  users: 5
  spawn_rate: 5
  requests:
    - {model: fraud-detector, version: "2.x", weight: 3}
    - {model: image-classifier}
phases:
  - name: baseline
    duration: 10s
  - name: fault
    duration: 20s
    faults:
      - type: latency
        target: link:gateway->model-gpu-1
        latency: 200ms
        jitter: 20ms
        toxicity: 50%
  - name: recovery
    duration: 10s
slos:
  - {name: p99, sli: latency_p99, phase: fault, objective: "< 300ms"}
  - {name: p99 rel, sli: latency_p99, phase: fault, objective: "<= 2x baseline"}
  - {name: ok, sli: success_ratio, phase: "*", objective: ">= 99.5%"}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def errors_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(path)
    for line in info.value.messages:
        assert re.match(rf"^{re.escape(str(path))}:\d+:\d+: ", line), line
    return [line[len(str(path)) + 1 :] for line in info.value.messages]  # "LINE:COL: where: message"


def test_base_loads_into_typed_frozen_models(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, BASE))
    assert isinstance(s, Scenario) and s.name == "t" and s.total_seconds == 40.0
    fault = s.phases[1].faults[0]
    assert isinstance(fault, Latency)
    assert (fault.latency, fault.jitter, fault.toxicity, fault.direction) == (0.2, 0.02, 0.5, "downstream")
    assert s.slos[0].objective == AbsoluteObjective(op="<", value=0.3, unit="seconds")
    assert isinstance(s.slos[1].objective, RelativeObjective) and s.slos[1].objective.phase == "baseline"
    assert s.load.requests[1].weight == 1.0 and s.load.requests[1].batch == 1
    with pytest.raises(Exception):
        s.phases[0].duration = 5.0  # type: ignore[misc]


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_load(path: Path) -> None:
    s = load_scenario(path)
    assert s.phases and s.slos and 60 <= s.total_seconds <= 150, "shipped scenarios stay short (demo and CI run them)"
    assert path.read_text().startswith("#"), "each shipped scenario opens with a comment header"
    assert "Expected verdict" in path.read_text()


def test_shipped_scenarios_use_the_intended_faults() -> None:
    latency = load_scenario(ROOT / "scenarios" / "latency-injection.yaml")
    fault = latency.phase("fault").faults[0]
    assert isinstance(fault, Latency) and fault.target == "link:gateway->model-gpu-1" and fault.jitter > 0
    assert any(t.expect_bottleneck and t.expect_bottleneck.operation == "upstream model-gpu-1" for t in latency.traces)
    node_loss = load_scenario(ROOT / "scenarios" / "registry-node-loss.yaml")
    kills = [f for p in node_loss.phases for f in p.faults if isinstance(f, ProcessKill)]
    assert [k.target for k in kills] == ["registry-store[0]", "registry-store[1]"]
    gpu = load_scenario(ROOT / "scenarios" / "gpu-exhaustion.yaml")
    first = gpu.phases[1].faults[0]
    assert isinstance(first, GpuExhaustion) and first.target == "model-gpu-1" and first.memory == 0.95


def test_unknown_field_says_did_you_mean_at_the_key(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE.replace("        toxicity: 50%", "        toxcity: 50%"))
    assert errors == ["21:9: phases[1].faults[0].toxcity: unknown field 'toxcity' (did you mean 'toxicity'?)"]


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ("  spawn_rate: 5", "  spawn_rte: 5", "load.spawn_rte: unknown field 'spawn_rte' (did you mean 'spawn_rate'?)"),
        ("metadata:", "metdata:", "unknown field 'metdata' (did you mean 'metadata'?)"),
        ("{model: image-classifier}", "{model: image-classifier, wieght: 2}", "did you mean 'weight'?"),
        ('phase: "*", objective', 'phase: "*", objectiv', "did you mean 'objective'?"),
    ],
)
def test_did_you_mean_everywhere(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in BASE
    errors = errors_of(tmp_path, BASE.replace(old, new))
    assert any(expected in e for e in errors), errors


def test_unknown_field_without_a_close_match_lists_the_allowed_ones(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE.replace("    duration: 10s\n  - name: fault", "    duration: 10s\n    zzz: 1\n  - name: fault"))
    assert len(errors) == 1 and "unknown field 'zzz'; allowed: name, duration, faults" in errors[0]


def test_unknown_target_lists_the_valid_targets(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE.replace("link:gateway->model-gpu-1", "link:gateway->model-gpu-9"))
    assert len(errors) == 1
    assert errors[0].startswith("18:17: phases[1].faults[0].target: unknown link target 'link:gateway->model-gpu-9'")
    assert "(did you mean 'link:gateway->model-gpu-" in errors[0]
    for link in Topology().links:
        assert link.name in errors[0]


def test_unknown_process_target_lists_components(tmp_path: Path) -> None:
    text = BASE.replace("      - type: latency\n        target: link:gateway->model-gpu-1\n        latency: 200ms\n        jitter: 20ms\n        toxicity: 50%\n",
                        "      - {type: process-kill, target: 'registry-store[3]'}\n")  # fmt: skip
    errors = errors_of(tmp_path, text)
    assert len(errors) == 1 and "unknown target 'registry-store[3]'" in errors[0]
    for component in Topology().components:
        assert component in errors[0]


def test_targets_come_from_the_topology(tmp_path: Path) -> None:
    """A process fault on a link is refused, saying what kind of target it needs."""
    text = BASE.replace("type: latency\n        target: link:gateway->model-gpu-1\n        latency: 200ms\n        jitter: 20ms\n        toxicity: 50%",
                        "type: process-pause\n        target: link:gateway->model-gpu-1")  # fmt: skip
    errors = errors_of(tmp_path, text)
    assert "'link:gateway->model-gpu-1' is a link: process faults target a component" in errors[0]


def test_gpu_exhaustion_needs_a_gpu_server_and_takes_sizes(tmp_path: Path) -> None:
    extra = "  - name: extra\n    duration: 5s\n    faults:\n      - {type: gpu-exhaustion, target: model-cpu-1, memory: 95%}\n"
    errors = errors_of(tmp_path, BASE.replace("  - name: recovery\n", extra + "  - name: recovery\n"))
    assert len(errors) == 1 and "GPU server target 'model-cpu-1'" in errors[0] and "model-gpu-1, model-gpu-2" in errors[0]
    s = load_scenario(write(tmp_path, BASE.replace("  - name: recovery\n", "  - name: gpu\n    duration: 5s\n    faults:\n      - {type: gpu-exhaustion, target: model-gpu-2, memory: 14GiB, compute: 100%}\n  - name: recovery\n")))
    fault = s.phase("gpu").faults[0]
    assert isinstance(fault, GpuExhaustion) and (fault.memory, fault.bytes, fault.compute) == (None, 14 * 1024**3, 1.0)


def test_unknown_fault_type_did_you_mean(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE.replace("type: latency", "type: latncy"))
    assert len(errors) == 1 and "unknown type 'latncy' (did you mean 'latency'?)" in errors[0]
    assert errors[0].startswith("17:9: phases[1].faults[0]")


@pytest.mark.parametrize(
    "old,new,where,message",
    [
        ("latency: 200ms", "latency: 200", "phases[1].faults[0].latency", "needs a unit"),
        ("duration: 20s", "duration: 20 seconds", "phases[1].duration", "bad duration"),
        ("toxicity: 50%", "toxicity: 150%", "phases[1].faults[0].toxicity", "out of range"),
        ('objective: ">= 99.5%"', 'objective: ">= 99.5 percent"', "slos[2].objective", "bad objective"),
    ],
)
def test_bad_units_are_located(tmp_path: Path, old: str, new: str, where: str, message: str) -> None:
    errors = errors_of(tmp_path, BASE.replace(old, new))
    assert len(errors) == 1 and f" {where}: " in errors[0] and message in errors[0], errors


def test_missing_phase_named_by_slo_trace_and_relative_objective(tmp_path: Path) -> None:
    text = BASE.replace("phase: fault, objective: \"< 300ms\"", "phase: faults, objective: \"< 300ms\"")
    text = text.replace("<= 2x baseline", "<= 2x base")
    text += "traces:\n  - {phase: recover, expect_bottleneck: {service: gateway}}\n"
    errors = errors_of(tmp_path, text)
    assert len(errors) == 3, errors
    assert errors[0].startswith("25:42: slos[0].phase: unknown phase 'faults' (did you mean 'fault'?)")
    assert errors[1].startswith("26:64: slos[1].objective: relative objective names phase 'base', which does not exist (did you mean 'baseline'?)")
    assert errors[2].startswith("29:13: traces[0].phase: unknown phase 'recover' (did you mean 'recovery'?)")


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    text = BASE.replace("toxicity: 50%", "toxcity: 50%").replace("duration: 10s", "duration: 10").replace("phase: fault,", "phase: flt,")
    errors = errors_of(tmp_path, text)
    lines = [int(e.split(":")[0]) for e in errors]
    assert lines == sorted(lines) and len(errors) == 5, errors  # 2 durations, 1 field, 2 phase references


def test_missing_required_field_points_at_its_mapping(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE.replace("  - name: recovery\n    duration: 10s\n", "  - name: recovery\n"))
    assert errors == ["22:5: phases[2].duration: missing required field 'duration'"]


def test_latency_objective_the_buckets_cannot_resolve(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE.replace('"< 300ms"', '"< 280ms"'))
    assert len(errors) == 1 and "cannot resolve 280ms" in errors[0] and "250ms and 300ms" in errors[0]
    errors = errors_of(tmp_path, BASE.replace('"< 300ms"', '"< 20s"'))
    assert "above the largest latency bucket" in errors[0]
    load_scenario(write(tmp_path, BASE.replace('"< 300ms"', '"< 1s"')))  # a bucket boundary: fine


def test_units_must_fit_the_sli(tmp_path: Path) -> None:
    assert "give the objective a time unit" in errors_of(tmp_path, BASE.replace('"< 300ms"', '"< 300"'))[0]
    assert "is a ratio" in errors_of(tmp_path, BASE.replace('">= 99.5%"', '">= 99.5"'))[0]


def test_fault_timing_must_fit_in_its_phase(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE.replace("toxicity: 50%", "toxicity: 50%\n        after: 15s\n        duration: 10s"))
    assert len(errors) == 1 and "phases[1].faults[0].duration: fault lasts past the end of phase 'fault'" in errors[0]
    errors = errors_of(tmp_path, BASE.replace("toxicity: 50%", "toxicity: 50%\n        after: 20s"))
    assert "phases[1].faults[0].after" in errors[0]


def test_duplicate_names(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE.replace("name: recovery", "name: baseline").replace("name: ok,", "name: p99,"))
    assert any("duplicate phase name 'baseline'" in e for e in errors)
    assert any("duplicate SLO name 'p99'" in e for e in errors)


def test_models_and_versions_must_be_served(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE.replace("model: image-classifier", "model: image-clasifier"))
    assert "unknown model 'image-clasifier' (did you mean 'image-classifier'?)" in errors[0]
    errors = errors_of(tmp_path, BASE.replace('version: "2.x"', 'version: "3.x"'))
    assert "no version of fraud-detector matches '3.x'; served: 2.3.1, 2.4.0" in errors[0]
    errors = errors_of(tmp_path, BASE.replace('version: "2.x"', 'version: "2.3.9"'))
    assert "no version of fraud-detector matches '2.3.9'" in errors[0]


def test_abort_conditions(tmp_path: Path) -> None:
    text = BASE + "abort:\n  - {when: error_ratio > 50%, for: 5s}\n  - {promql: 'max(chaosctl_gateway_breaker_state)', condition: '>= 2', for: 10s}\n"
    s = load_scenario(write(tmp_path, text))
    first, second = s.abort
    assert first.when is not None and first.when.sli == "error_ratio" and first.when.threshold.value == 0.5 and first.for_ == 5.0
    assert second.promql and second.condition == AbsoluteObjective(op=">=", value=2.0, unit="number") and second.for_ == 10.0
    errors = errors_of(tmp_path, BASE + "abort:\n  - {when: errors > 5, for: 5s}\n  - {promql: 'up'}\n")
    assert len(errors) == 2 and "unknown SLI 'errors'" in errors[0] and "needs `condition`" in errors[1]


def test_burn_rate_slo_needs_a_target(tmp_path: Path) -> None:
    ok = BASE + "  - {name: burn, sli: burn_rate, target: 99.9%, phase: fault, objective: '< 14.4'}\n"
    slo = load_scenario(write(tmp_path, ok)).slos[-1]
    assert isinstance(slo, SLO) and slo.objective == BurnRateObjective(op="<", value=14.4) and slo.target == pytest.approx(0.999)
    errors = errors_of(tmp_path, ok.replace("target: 99.9%, ", ""))
    assert "needs `target`" in errors[0]


def test_slo_needs_exactly_one_of_sli_and_promql(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE + "  - {name: both, sli: throughput, promql: up, objective: '> 1'}\n")
    assert "exactly one of `sli`" in errors[0]


def test_trace_expectation_needs_exactly_one_kind_and_a_known_service(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, BASE + "traces:\n  - {phase: fault, max_critical_path_share: {service: registry, share: 10%}}\n"))
    assert s.traces[0].max_critical_path_share.share == 0.1 and s.traces[0].min_traces == 100  # type: ignore[union-attr]
    errors = errors_of(tmp_path, BASE + "traces:\n  - {phase: fault}\n")
    assert "exactly one of expect_bottleneck" in errors[0]
    errors = errors_of(tmp_path, BASE + "traces:\n  - {phase: fault, must_appear: {service: gatway}}\n")
    assert "unknown service 'gatway' (did you mean 'gateway'?)" in errors[0]


def test_steady_state_probes(tmp_path: Path) -> None:
    text = BASE + "steady_state:\n  - {name: gw, probe: http, target: gateway}\n  - {name: up, probe: promql, query: 'min(up)', condition: '>= 1'}\n"
    s = load_scenario(write(tmp_path, text))
    assert s.steady_state[0].path == "/healthz" and s.steady_state[0].expect_status == 200  # type: ignore[union-attr]
    errors = errors_of(tmp_path, text.replace("probe: http, target: gateway", "probe: http, target: gateway, expect_statu: 200"))
    assert "did you mean 'expect_status'?" in errors[0]
    errors = errors_of(tmp_path, text.replace("probe: http", "probe: tcp"))
    assert "unknown probe 'tcp'" in errors[0]


def test_load_shapes(tmp_path: Path) -> None:
    steps = BASE.replace("  requests:", "  shape: {type: steps, steps: [{users: 2, duration: 10s}, {users: 5, duration: 30s}]}\n  requests:")
    assert load_scenario(write(tmp_path, steps)).load.shape.steps[1].duration == 30.0  # type: ignore[union-attr]
    spike = BASE.replace("  requests:", "  shape: {type: spike, users: 50, at: 35s, duration: 10s}\n  requests:")
    errors = errors_of(tmp_path, spike)
    assert "the spike ends after the scenario" in errors[0]


def test_merge_keys_and_anchors_are_plain_yaml(tmp_path: Path) -> None:
    text = BASE.replace(
        "      - type: latency\n        target: link:gateway->model-gpu-1\n",
        "      - &slow\n        type: latency\n        target: link:gateway->model-gpu-1\n",
    ).replace("  - name: recovery\n", "  - name: again\n    duration: 10s\n    faults:\n      - <<: *slow\n        toxicity: 10%\n  - name: recovery\n")
    s = load_scenario(write(tmp_path, text))
    again = s.phase("again").faults[0]
    assert isinstance(again, Latency) and again.latency == 0.2 and again.toxicity == 0.1


def test_a_custom_topology_is_used_for_targets(tmp_path: Path) -> None:
    class NoLinks(Topology):
        @property
        def links(self):  # type: ignore[override]
            return ()

    path = write(tmp_path, BASE)
    with pytest.raises(ScenarioInvalid, match="unknown link target"):
        load_scenario(path, NoLinks())


def test_enumerated_values_say_did_you_mean(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE.replace("toxicity: 50%", "toxicity: 50%\n        direction: downstram"))
    assert len(errors) == 1 and "'downstram' is not allowed here (did you mean 'downstream'?)" in errors[0]
    errors = errors_of(tmp_path, BASE.replace("sli: success_ratio", "sli: sucess_ratio"))
    assert "(did you mean 'success_ratio'?)" in errors[0]


def test_a_target_of_the_wrong_kind_says_so(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE.replace("target: link:gateway->model-gpu-1", "target: model-gpu-1"))
    assert len(errors) == 1 and "'model-gpu-1' is a component: network faults target a link" in errors[0]


def test_latency_abort_threshold_must_be_resolvable(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE + "abort:\n  - {when: latency_p99 > 2.2s, for: 5s}\n")
    assert len(errors) == 1 and "abort[0].when: the latency histogram cannot resolve 2.2s" in errors[0]
    load_scenario(write(tmp_path, BASE + "abort:\n  - {when: latency_p99 > 2s, for: 5s}\n"))


@pytest.mark.parametrize("spec", ["2.3", "~2.3", "2.x", ">=2.1,<3", "^2.0.0", "2.4.0"])
def test_versions_follow_the_gateways_range_rules(tmp_path: Path, spec: str) -> None:
    load_scenario(write(tmp_path, BASE.replace('version: "2.x"', f'version: "{spec}"')))


def test_promql_quantiles_over_our_histograms_get_the_bucket_check(tmp_path: Path) -> None:
    q = "histogram_quantile(0.99, sum by (le) (rate(chaosctl_gateway_upstream_duration_seconds_bucket[$window])))"
    errors = errors_of(tmp_path, BASE + f"  - {{name: up99, promql: '{q}', phase: fault, objective: '< 120ms'}}\n")
    assert len(errors) == 1 and "cannot resolve 120ms" in errors[0]
    load_scenario(write(tmp_path, BASE + f"  - {{name: up99, promql: '{q}', phase: fault, objective: '< 150ms'}}\n"))
    other = "histogram_quantile(0.99, sum by (le) (rate(some_other_seconds_bucket[$window])))"
    load_scenario(write(tmp_path, BASE + f"  - {{name: o99, promql: '{other}', phase: fault, objective: '< 120ms'}}\n"))


def test_python_names_of_aliased_fields_are_not_accepted_in_files(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE + "abort:\n  - {when: error_ratio > 0.5, for_: 5s}\n")
    assert len(errors) == 1 and "unknown field 'for_' (did you mean 'for'?)" in errors[0]
