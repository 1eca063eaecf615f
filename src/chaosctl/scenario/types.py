"""Annotated scalar types shared by the scenario models.

Each one parses the human form (`30s`, `95%`, `14GiB`) into the normalised
value (float seconds, fraction, int bytes) and shows editors the human form in
the JSON Schema.
"""

# No `from __future__ import annotations` in model modules: pydantic would compile and eval each
# annotation string at class creation (a few % of `chaosctl validate`, benchmarks/validate_startup.py).

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, WithJsonSchema

from chaosctl.stack.topology import Topology

from .units import parse_bytes, parse_duration, parse_percent, parse_rate_kbps

DURATION_PATTERN = r"^\s*(0|((\d+(\.\d*)?|\.\d+)\s*(ms|us|µs|ns|h|m|s))+)\s*$"
PERCENT_PATTERN = r"^\s*(\d+(\.\d*)?|\.\d+)\s*%\s*$"
BYTES_PATTERN = r"^\s*(\d+(\.\d*)?|\.\d+)\s*([kKmMgGtT]i?[bB]|[bB])\s*$"


class Frozen(BaseModel):
    """Base of every scenario model: immutable, unknown fields refused, no NaN or infinity
    (`spawn_rate: .inf` or `weight: 1e400` would otherwise validate and break the run).

    defer_build: a model's validator is built on its first use, not at import, so `validate`
    builds the Scenario's (or System's) tree once instead of one validator per class."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, defer_build=True)


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": DURATION_PATTERN}, {"const": 0}],
            "description": "a duration with a unit: 200ms, 30s, 1m30s, 1h",
        }
    ),
]

Fraction = Annotated[
    float,
    BeforeValidator(parse_percent),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": PERCENT_PATTERN}, {"type": "number", "minimum": 0, "maximum": 1}],
            "description": "a percentage (95%) or a fraction (0.95)",
        }
    ),
]

ByteSize = Annotated[
    int,
    BeforeValidator(parse_bytes),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": BYTES_PATTERN}, {"type": "integer", "minimum": 0}],
            "description": "a byte size: 14GiB, 512MiB, 100KB, or a number of bytes",
        }
    ),
]

RateKBps = Annotated[
    int,
    BeforeValidator(parse_rate_kbps),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^\s*(\d+(\.\d*)?|\.\d+)\s*([kKmMgG]i?[bB]|[bB])/s\s*$"},
                      {"type": "integer", "minimum": 0}],
            "description": "bandwidth: 100KB/s, 1MB/s, or a number of KB/s (Toxiproxy's unit)",
        }
    ),
]  # fmt: skip


def topology_of(info: ValidationInfo) -> Topology:
    """The topology passed as validation context (load_scenario does), else the default one."""
    context: Any = info.context
    if isinstance(context, dict) and isinstance(context.get("topology"), Topology):
        return context["topology"]
    return Topology()


def closest(word: str, choices: "tuple[str, ...] | list[str]") -> str | None:
    import difflib

    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_name(kind: str, word: str, choices: "tuple[str, ...] | list[str]") -> str:
    """`unknown target 'x' (did you mean 'y'?); valid targets: a, b, c`."""
    guess = closest(word, choices)
    hint = f" (did you mean {guess!r}?)" if guess else ""
    return f"unknown {kind} {word!r}{hint}; valid {kind}s: {', '.join(choices)}"
