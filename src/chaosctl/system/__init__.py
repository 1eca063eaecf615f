"""Systems (docs/system-format.md): what a run touches and how — components, links, observability, SLIs, load.

Kept light (pydantic, ruamel.yaml): loading a System must not pull in the
stack's display code, httpx or anything heavy; `discover` imports httpx itself.
"""

from __future__ import annotations

from .load import load_system, parse_system
from .model import System
from .reference import reference_system

__all__ = ["System", "load_system", "parse_system", "reference_system"]
