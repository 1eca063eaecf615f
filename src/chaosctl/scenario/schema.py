"""The JSON Schema of the scenario format, for editors (`chaosctl schema`).

Generated from the pydantic models (the one source of truth); units show as
their human forms (`30s`, `95%`, `14GiB`) and objectives as patterned strings.
Cross-field rules (phase names, buckets, targets) are only checked by
`chaosctl validate`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from chaosctl.stack.topology import Topology

SCHEMA_ID = "urn:chaosctl:scenario:v1"


def json_schema(topology: Topology | None = None) -> dict[str, Any]:
    """Draft 2020-12 JSON Schema of a chaosctl/v1 scenario."""
    from .model import Scenario

    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    topology = topology or Topology()
    defs = schema.get("$defs", {})
    # Editors can complete target names: a suggestion list, not a restriction (validate checks them).
    targets = [*topology.targets]
    for definition in defs.values():
        target = definition.get("properties", {}).get("target")
        if target is not None and target.get("type") == "string":
            target["examples"] = targets
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "chaosctl scenario (chaosctl/v1)",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def print_schema() -> None:
    json.dump(json_schema(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
