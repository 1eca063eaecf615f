"""The exported JSON Schema: valid Draft 2020-12, accepts the shipped scenarios, refuses typos."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from chaosctl.scenario.schema import json_schema
from chaosctl.scenario.yamlsrc import read_yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_is_draft_2020_12() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["required"]) >= {"apiVersion", "kind", "metadata", "load", "phases"}


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_schema_accepts_shipped_scenarios(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    data, _ = read_yaml(path)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == []


def _base() -> dict:
    data, _ = read_yaml(ROOT / "scenarios" / "latency-injection.yaml")
    return data


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["phases"][1]["faults"][0].update(toxcity=1),  # unknown field
        lambda d: d["phases"][1]["faults"][0].update(type="latncy"),  # unknown fault type
        lambda d: d["phases"][0].update(duration="30 sec"),  # bad duration
        lambda d: d["phases"][1]["faults"][0].update(toxicity="150"),  # not a percentage
        lambda d: d.update(apiVersion="chaosctl/v2"),
        lambda d: d["slos"][0].update(objective="about 250ms"),
        lambda d: d["abort"][0].update(when="errors > 0.5"),
    ],
)
def test_schema_refuses_what_validate_refuses(validator: jsonschema.Draft202012Validator, mutate) -> None:  # noqa: ANN001
    data = _base()
    assert list(validator.iter_errors(data)) == []
    mutate(data)
    assert list(validator.iter_errors(data)) != []


def test_schema_shows_units_in_their_human_form() -> None:
    defs = json_schema()["$defs"]
    latency = defs["Latency"]["properties"]["latency"]
    assert "200ms" in latency["description"]
    assert "link:gateway->model-gpu-1" in defs["Latency"]["properties"]["target"]["examples"]
    assert defs["AbortCondition"]["properties"]["for"]["description"]


def test_committed_schema_file_is_up_to_date() -> None:
    """schemas/scenario-v1.json is what editors load (the shipped scenarios point at it)."""
    import json

    committed = json.loads((ROOT / "schemas" / "scenario-v1.json").read_text())
    assert committed == json_schema(), "regenerate: chaosctl schema > schemas/scenario-v1.json"
    for path in SCENARIOS:
        assert path.read_text().startswith("# yaml-language-server: $schema=../schemas/scenario-v1.json\n")
