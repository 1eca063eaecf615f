"""Systems (docs/system-format.md): what a run touches and how — components, links, observability, SLIs, load.

Kept light (pydantic, ruamel.yaml): loading a System must not pull in the
stack's display code, httpx or anything heavy; `discover` imports httpx itself.
The names below load on first use: `validate` of a scenario against the reference
stack imports chaosctl.system.validate and never needs the System models (fit.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .load import load_system, parse_system
    from .model import System
    from .reference import reference_system

__all__ = ["System", "load_system", "parse_system", "reference_system"]
_HOME = {"System": "model", "load_system": "load", "parse_system": "load", "reference_system": "reference"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
