"""The fault-type list is defined once (scenario/fault_types.py) and the scenario language, the
catalogue of run-time faults and the verdicts agree with it (issue 14 part 2)."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from chaosctl.errors import FaultError
from chaosctl.faults.base import FaultContext, FaultRecord
from chaosctl.faults.catalogue import fault_from_record
from chaosctl.scenario import fault_types
from chaosctl.scenario.faults import FaultSpec
from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology

FAMILIES = ("PROCESS_TYPES", "LINK_TYPES", "REQUEST_TYPES", "ROLLOUT_TYPES", "GPU_TYPES", "REGION_TYPES")


def test_every_type_is_in_exactly_one_family_and_the_list_is_their_union() -> None:
    seen = [t for family in FAMILIES for t in getattr(fault_types, family)]
    assert len(seen) == len(set(seen)) and tuple(seen) == fault_types.FAULT_TYPES


def test_the_scenario_models_are_the_list() -> None:
    union = typing.get_args(typing.get_args(FaultSpec)[0])
    declared = {typing.get_args(model.model_fields["type"].annotation)[0] for model in union}
    assert declared == set(fault_types.FAULT_TYPES)


def test_the_scenario_package_and_the_verdicts_read_the_same_list() -> None:
    from chaosctl.scenario import model
    from chaosctl.verdict import effect

    assert model.FAULT_TYPES is fault_types.FAULT_TYPES
    assert (effect.LINK_TYPES, effect.PROCESS_TYPES, effect.REQUEST_TYPES) == (
        fault_types.LINK_TYPES, fault_types.PROCESS_TYPES, fault_types.REQUEST_TYPES)


def test_the_catalogue_builds_every_type_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    """Each type reaches a run-time fault class (nothing is injected: only built)."""
    ctx = FaultContext(Settings(state_dir=tmp_path, port_base=24700), Topology(24700), backend_factory=lambda: None)
    targets = {"PROCESS_TYPES": "registry", "LINK_TYPES": "link:gateway->registry", "REQUEST_TYPES": "gateway",
               "ROLLOUT_TYPES": "gateway", "GPU_TYPES": "model-gpu-1", "REGION_TYPES": "region:a"}
    for family, target in targets.items():
        for ftype in getattr(fault_types, family):
            fault = fault_from_record(FaultRecord("f1", ftype, target, {}), ctx)
            assert type(fault).__name__.endswith("Fault"), (ftype, type(fault))
    with pytest.raises(FaultError, match="unknown fault type 'packet-loss'"):
        fault_from_record(FaultRecord("f2", "packet-loss", "link:gateway->registry", {}), ctx)
