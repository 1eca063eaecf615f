"""Mutated scenario files never escape as anything but ScenarioInvalid with FILE:LINE:COL lines."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from fuzzing import examples, full_strength

from chaosctl.errors import ScenarioInvalid
from chaosctl.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
TOKENS = [":", "- ", "{", "}", "[", "]", "&a ", "*a", "!!str ", "!!python/name:os.system ", "\t", "'", '"', "#", "\n",
          "  ", "<<: *a", "0x1", "1e400", ".nan", "~", "yes", "%", "ms", "\x00", "é", "---\n", "? "]  # fmt: skip


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        j = rng.randrange(len(lines))
        k = rng.randrange(len(lines[j]) + 1)
        op = rng.random()
        if op < 0.3:
            del lines[j]
        elif op < 0.6:
            lines[j] = lines[j][:k] + rng.choice(TOKENS) + lines[j][k:]
        elif op < 0.8:
            lines.insert(j, rng.choice(lines))
        else:
            lines[j] = lines[j][:k] + lines[j][k + 1 :]
    return "\n".join(lines)


def test_mutated_scenarios_fail_cleanly(tmp_path: Path) -> None:
    """300 mutated shipped scenarios under `make fuzz`, the first 100 of them under `make test`."""
    rng = random.Random(20261125)
    texts = [p.read_text() for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
    invalid, count = 0, examples(300)
    for i in range(count):
        path = tmp_path / f"m{i}.yaml"
        path.write_text(_mutate(rng.choice(texts), rng))
        try:
            load_scenario(path)
        except ScenarioInvalid as exc:
            invalid += 1
            assert exc.messages and all(m.startswith(f"{path}:") and m.split(":")[1].isdigit() for m in exc.messages)
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"{path}: {type(exc).__name__}: {exc}\n{path.read_text()}")
    assert invalid > count // 3  # the mutations do break files: the check above is exercised


# -- property-based (hypothesis): generated YAML text and generated structures -------------
#
# Each input class gets 10,000 generated inputs under `make fuzz` (issue 10: zero tracebacks
# over >= 10,000 each), derandomized; `make test` runs a random share (tests/fuzzing.py).
# The only acceptable outcomes are a Scenario or ScenarioInvalid with FILE:LINE:COL lines.
# The bases are small valid scenarios (every section, several fault types) rather than the
# shipped files: the pure-Python YAML parser costs ~1 ms per 100 bytes, and 10,000 inputs
# must fit in well under a minute.

FUZZ_EXAMPLES = 10_000  # per input class, split over two tests of 5,000 (each well under a minute)
BASES = [  # small on purpose: the parser's cost is per byte
    """apiVersion: chaosctl/v1
kind: Scenario
metadata: {name: f1, labels: {team: a}}
load: {users: 2, spawn_rate: 1, requests: [{model: fraud-detector, version: 2.x}]}
phases:
  - name: fault
    duration: 10s
    faults: [{type: latency, target: link:gateway->model-gpu-1, latency: 100ms, toxicity: 50%}]
slos: [{name: p99, sli: latency_p99, phase: fault, objective: "<= fault + 50ms"}]
""",
    """apiVersion: chaosctl/v1
kind: Scenario
metadata: {name: f2}
load: {users: 4, spawn_rate: 2, requests: [{model: image-classifier, batch: 4}], shape: {type: steps, steps: [{users: 2, duration: 5s}]}}
phases: [{name: a, duration: 1m30s, faults: [{type: gpu-exhaustion, target: model-gpu-2, memory: 14GiB, after: 1s}]}]
abort: [{promql: up, condition: "< 1", for: 0}]
""",
    """apiVersion: chaosctl/v1
kind: Scenario
metadata: {name: f3}
load: {users: 1, spawn_rate: 1, requests: [{model: image-classifier}]}
phases: [{name: a, duration: 1s, faults: [{type: process-kill, target: "registry-store[0]"}]}]
steady_state: [{name: up, probe: http, target: gateway}]
abort: [{when: error_ratio > 0.5, for: 5s}]
traces: [{phase: a, expect_bottleneck: {service: gateway, operation: "upstream x"}}]
""",
    """apiVersion: chaosctl/v1
kind: Scenario
metadata: {name: f4}
load: {users: 1, spawn_rate: 1, requests: [{model: image-classifier}]}
phases: [{name: a, duration: 1s, faults: [{type: bandwidth, target: link:gateway->registry, rate: 100KB/s}]}]
slos: [{name: b, sli: burn_rate, target: 99.5%, phase: "*", objective: "< 14.4"}]
""",
]
WORDS = ["apiVersion", "chaosctl/v1", "kind", "Scenario", "metadata", "name", "load", "users", "phases",
         "duration", "faults", "type", "latency", "target", "slos", "objective", "sli", "abort", "when",
         "30s", "1e400", "-.inf", ".NaN", "2026-02-30", "2026-11-25 99:00:00", "1" + "0" * 5000, "0o17",
         "[bold]", "[/]", "[link=http://x]", "\x1b[31m", "\u202e", "\ufeff", "\r\n", "&x [1, 2]", "*x", "<<: *x",
         "!!binary aGk=", "!!timestamp", "!!float", "!!set", "!!omap", "? [a]", "|", ">-", "%YAML 1.1\n---\n"]  # fmt: skip


def _fuzz() -> dict:
    """Settings read when a test runs (after the profile is loaded), not at import."""
    return dict(max_examples=examples(FUZZ_EXAMPLES // 2), deadline=None, database=None, derandomize=full_strength())


SOURCE = "gen.yaml"


def _accepts_or_located(raw: bytes) -> None:
    """The loader minus the file read (no I/O per example: 10,000 of them must stay fast)."""
    from chaosctl.scenario.parse import parse_scenario
    from chaosctl.scenario.yamlsrc import parse_yaml

    try:
        parse_scenario(*parse_yaml(raw, SOURCE), SOURCE)
    except ScenarioInvalid as exc:
        for message in exc.messages:
            where = message[len(SOURCE) + 1 :].split(":")
            assert message.startswith(f"{SOURCE}:") and where[0].isdigit() and where[1].isdigit(), message


def test_fuzz_bases_are_valid(tmp_path: Path) -> None:
    for i, text in enumerate(BASES):
        (tmp_path / f"b{i}.yaml").write_text(text)
        load_scenario(tmp_path / f"b{i}.yaml")  # the mutations start from valid scenarios


def _yaml_texts(mode: str):
    from hypothesis import strategies as st

    token = st.one_of(st.sampled_from(TOKENS + WORDS), st.characters(codec=None, exclude_categories=()))
    fragment = st.lists(token, max_size=12).map("".join)
    spliced = st.tuples(st.sampled_from(BASES), st.floats(0, 1), fragment, st.integers(0, 40)).map(
        lambda t: t[0][: int(len(t[0]) * t[1])] + t[2] + t[0][int(len(t[0]) * t[1]) + t[3] :]
    )
    free = st.lists(st.tuples(st.integers(0, 6), fragment), max_size=10).map(
        lambda lines: "\n".join("  " * indent + text for indent, text in lines)
    )
    return spliced if mode == "spliced" else free


@pytest.mark.parametrize("mode", ["spliced", "free"])
def test_generated_yaml_text_never_escapes(mode: str) -> None:
    """Fragments spliced into valid scenarios, and free text of YAML tokens at random indents."""
    from hypothesis import HealthCheck, given, settings

    @settings(**_fuzz(), suppress_health_check=list(HealthCheck))
    @given(_yaml_texts(mode))
    def check(text: str) -> None:
        _accepts_or_located(text.encode("utf-8", "surrogatepass"))  # lone surrogates: invalid UTF-8 on purpose

    check()


def _values():
    from hypothesis import strategies as st

    leaves = st.one_of(
        st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**60), max_value=10**60),
        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(WORDS + ["10s", "95%", "14GiB", "< 300ms", "gateway"]),
        st.text(max_size=20),
    )
    keys = st.one_of(st.sampled_from(WORDS), st.text(max_size=8))
    return st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
                        max_leaves=12)


def _replace_at(data, choices: list[int], value):
    """A copy of `data` with the subtree picked by `choices` (one index per level) replaced by `value`."""
    if not choices or not isinstance(data, (dict, list)) or not data:
        return value
    if isinstance(data, dict):
        key = list(data)[choices[0] % len(data)]
        return {**data, key: _replace_at(data[key], choices[1:], value)}
    i = choices[0] % len(data)
    return [*data[:i], _replace_at(data[i], choices[1:], value), *data[i + 1 :]]


def _flow(value) -> str:
    """YAML flow style for plain data (a JSON-like emitter: ruamel's pure-Python dumper costs
    more than the parse, and 10,000 documents must stay fast). Strings are double-quoted with
    JSON escapes, which YAML 1.2 reads the same way."""
    import json
    import math

    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _dump(data) -> str:
    """Block style at the top (one key a line), flow style below: both parser paths."""
    if isinstance(data, dict):
        return "".join(f"{_flow(k)}: {_flow(v)}\n" for k, v in data.items())
    return _flow(data) + "\n"


@pytest.mark.parametrize("half", [0, 1])
def test_generated_structures_dumped_to_yaml_never_escape(half: int) -> None:
    """Valid scenarios with 1-3 subtrees replaced by generated values (NaN, huge ints, markup...)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from chaosctl.scenario.yamlsrc import parse_yaml

    bases = [parse_yaml(text.encode(), "base")[0] for text in BASES[half * 2 : half * 2 + 2]]
    assert parse_yaml(_dump(bases[0]).encode(), "x")[0] == bases[0]  # the emitter round-trips

    @settings(**_fuzz(), suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(bases), st.lists(st.tuples(st.lists(st.integers(0, 20), max_size=5), _values()), min_size=1, max_size=3))
    def check(base, replacements) -> None:
        data = base
        for choices, value in replacements:
            data = _replace_at(data, choices, value)
        _accepts_or_located(_dump(data).encode("utf-8", "surrogatepass"))

    check()
