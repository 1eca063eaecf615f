"""The catalogue: a fault record -> the run-time fault that injects, verifies and reverts it.

The one place that knows every fault module. base.py (the record, the context, the protocol)
imports none of them, and each of them imports base.py: no cycle. Which family a type belongs
to is read from the one list (scenario/fault_types.py); a component's kind (process, container,
pod, gpu-host, the reference stack) says how its faults reach it.
"""

from __future__ import annotations

from typing import Any, Callable

from chaosctl.errors import FaultError
from chaosctl.scenario.fault_types import FAULT_TYPES, GPU_TYPES, LINK_TYPES, REGION_TYPES, REQUEST_TYPES, ROLLOUT_TYPES

from .base import SYSTEM_PARAM, Fault, FaultContext, FaultRecord, record_from_spec


def fault_from_record(record: FaultRecord, ctx: FaultContext) -> Fault:
    """Rebuild a fault from its record (the run and `chaosctl recover` both use this).
    Links go through Toxiproxy; a component's kind says how its faults reach it."""
    if record.type not in FAULT_TYPES:
        raise FaultError(f"unknown fault type {record.type!r} (known: {', '.join(FAULT_TYPES)})")
    ctx = ctx.for_record(record)
    if record.type in REQUEST_TYPES:  # a link (HTTP fault proxy) or a reference gateway / model server
        return _request_fault(record, ctx)
    if record.type in ROLLOUT_TYPES:
        from .rollout import RolloutFault

        return RolloutFault(record, ctx)
    if record.type in REGION_TYPES:
        from .partition import RegionPartitionFault

        return RegionPartitionFault(record, ctx)
    if record.type in LINK_TYPES:
        from .link import LinkFault

        return LinkFault(record, ctx)
    comp = ctx.component(record.target)
    if record.type not in comp.faults:
        raise FaultError(f"{record.type} cannot reach {comp.name!r} (a {comp.kind} component takes {', '.join(comp.faults)})")
    return _by_kind(comp.kind)(record, ctx)


def _request_fault(record: FaultRecord, ctx: FaultContext) -> Fault:
    """A link's request fault goes through a fault proxy; a reference service takes the rule itself."""
    if record.target.startswith("link:"):
        from .httpproxy import HttpProxyFault

        return HttpProxyFault(record, ctx)
    comp = ctx.component(record.target)  # FaultError for an undeclared target
    if record.type not in comp.faults:
        raise FaultError(f"{record.type} cannot reach {comp.name!r} (a {comp.kind} component takes {', '.join(comp.faults)})")
    from .request import AdminRuleFault

    return AdminRuleFault(record, ctx)


def _by_kind(kind: str) -> Callable[[FaultRecord, FaultContext], Fault]:
    if kind == "process":
        from .localproc import local_process_fault

        return local_process_fault
    if kind == "container":
        from .container import container_fault

        return container_fault
    if kind == "pod":
        from .pod import pod_fault

        return pod_fault
    if kind == "gpu-host":
        from .gpuhog import GpuHogFault

        return GpuHogFault
    from .gpu import gpu_fault
    from .process import process_fault

    return lambda record, ctx: gpu_fault(record, ctx) if record.type in GPU_TYPES else process_fault(record, ctx)


def build_fault(spec: Any, ctx: FaultContext) -> Fault:
    record = record_from_spec(spec)
    if ctx.system_path is not None:  # so that `chaosctl recover` reaches the same System's target
        record = FaultRecord(record.id, record.type, record.target, {**record.params, SYSTEM_PARAM: str(ctx.system_path)})
    return fault_from_record(record, ctx)
