"""The JSON Schema of the System format (`chaosctl schema --kind system`, schemas/system-v1.json).

Generated from the pydantic models. Literal secrets and duplicate names are
only refused by `chaosctl validate`.
"""

from __future__ import annotations

from typing import Any

SCHEMA_ID = "urn:chaosctl:system:v1"


def json_schema() -> dict[str, Any]:
    """Draft 2020-12 JSON Schema of a chaosctl/v1 System."""
    from .model import System

    schema = System.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "chaosctl System (chaosctl/v1)",
        **{k: v for k, v in schema.items() if k != "title"},
    }
