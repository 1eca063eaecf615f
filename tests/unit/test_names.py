"""One name per concept (issue 14 part 2; docs/architecture.md, "Names"): a scenario model is
named for what the file declares, and nothing else in chaosctl's engine takes that name; the
object built from it to act at run time has its own (a fault at run time ends in `Fault`)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import chaosctl

PACKAGE = Path(chaosctl.__file__).parent
# The reference services are the system under test, with their own API vocabulary (a model
# server's `Load` report is part of the registry's OpenAPI document): not the engine's names.
NOT_THE_ENGINE = ("services/",)


def _classes() -> dict[str, set[str]]:
    where: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                where[node.name].add(rel)
    return where


def test_no_scenario_model_name_is_also_a_runtime_class() -> None:
    where = _classes()
    models = {name for name, files in where.items() if any(f.startswith("scenario/") for f in files)}
    shared = {name: sorted(f for f in where[name] if not f.startswith(("scenario/", *NOT_THE_ENGINE)))
              for name in models}
    assert {name: files for name, files in shared.items() if files} == {}
    assert {"GpuExhaustion", "AbortCondition", "RequestMix"} <= models  # the scenario keeps the file's words


def test_every_runtime_fault_class_is_named_a_fault() -> None:
    """faults/: a class with inject/verify/revert is a fault at run time and says so."""
    offenders = []
    for path in (PACKAGE / "faults").glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                if {"inject", "revert"} <= methods and not node.name.endswith("Fault"):
                    offenders.append(f"{path.name}:{node.name}")
    assert offenders == []
