"""What every fault spec has: a target, when it goes in and for how long, and whether its
effect must be confirmed. The specs themselves: faults.py (processes, links, GPUs, regions)
and request_faults.py (requests at the reference services, and the canary rollout)."""

# No `from __future__ import annotations` in model modules: pydantic would compile and eval each
# annotation string at class creation (a few % of `chaosctl validate`, benchmarks/validate_startup.py).

import functools
import typing
from typing import Any, Optional

from pydantic import Field, GetCoreSchemaHandler, ValidationInfo, ValidatorFunctionWrapHandler
from pydantic_core import CoreSchema, core_schema

from .types import Duration, Frozen

# Set by `lazy_fault_schemas()` (the validate command's process only); read when a schema is built.
_LAZY = {"on": False}


class FaultBase(Frozen):
    target: str = Field(description="a logical target from the topology, e.g. registry-store[0] or link:gateway->model-gpu-1")
    after: Duration = Field(0.0, description="when the fault goes in, from the start of its phase (default 0s)")
    duration: Optional[Duration] = Field(None, description="how long it stays (default: until the end of its phase)")
    expect_effect: bool = Field(
        False, description="fail the run unless the fault's effect is confirmed by what the system showed (docs/verdicts.md)"
    )

    def __init__(self, **data: Any) -> None:
        # In lazy mode a kind's own validator is the union stub's, which returns a new instance
        # instead of filling `self`: Latency(...) would come out empty. Its full one first.
        if _LAZY["on"]:
            _kind_validator(type(self))
        super().__init__(**data)

    # Not a "custom" __init__ to pydantic: nested validation keeps filling fields itself (with the
    # validation context, i.e. a System's topology) instead of calling __init__ without it.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @property
    def label(self) -> str:
        return f"{self.type} {self.target}"  # type: ignore[attr-defined]

    def describe(self) -> str:
        detail = self._detail()
        return f"{self.label} ({detail})" if detail else self.label

    def _detail(self) -> str:
        return ""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        """pydantic's own schema, except in lazy mode (below): there a fault kind in FaultSpec's union
        is a stub that carries only its `type` tag (so the union is the same tagged union, with the
        same tags in the same order and the same errors for an unknown or missing type) and hands
        the value to the kind's full validator, built on the first fault of that kind."""
        if not _LAZY["on"] or "type" not in cls.model_fields:
            return handler(source)
        tags = list(typing.get_args(cls.model_fields["type"].annotation))
        tag_only = core_schema.model_fields_schema({"type": core_schema.model_field(core_schema.literal_schema(tags))})
        # Serialized as what it is (the kind's own serializer, built with its validator): model_dump stays whole.
        return core_schema.with_info_wrap_validator_function(
            functools.partial(_validate_kind, cls), core_schema.model_schema(cls, tag_only), serialization=core_schema.simple_ser_schema("any")
        )


def lazy_fault_schemas() -> None:
    """Build each fault kind's validator on its first use, not with the Scenario's: a scenario uses
    one or two of the 18 kinds, and building them all was 30 M of `chaosctl validate`'s 733 M
    instructions (callgrind). For a process that only validates (__main__'s validate path): the
    Scenario's JSON Schema built in this mode would see the stubs (model_dump does not), so call it
    before anything builds the Scenario's schema."""
    _LAZY["on"] = True


@functools.cache
def _kind_validator(cls: type[FaultBase]) -> Any:
    _LAZY["on"] = False  # the kind's own schema, in full
    try:
        cls.model_rebuild(force=True)
    finally:
        _LAZY["on"] = True
    return cls.__pydantic_validator__


def _validate_kind(cls: type[FaultBase], value: Any, _stub: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    # The kind's errors come back as this fault's (pydantic prefixes their locations with the union tag
    # and the list index, as for the full union); the topology (validation context) goes along.
    return _kind_validator(cls).validate_python(value, context=info.context)
