"""The fault types, defined once. The scenario language (its models, schema and loader:
scenario/faults.py), the run-time faults (faults/catalogue.py, faults/base.py) and the
verdicts (verdict/effect.py) all read these names from here; nothing else spells the list.

Plain tuples with no import, so that every layer may read them without a cycle. A new fault
type: its family here, its model in scenario/faults.py (FaultSpec; request-level ones in
scenario/request_faults.py), its run-time class in
faults/ (catalogue.py dispatches on the family); tests/unit/test_fault_types.py checks the three
agree.
"""

from __future__ import annotations

PROCESS_TYPES = ("process-kill", "process-pause", "process-restart")
LINK_TYPES = ("latency", "jitter", "bandwidth", "timeout", "reset-peer", "slow-close", "limit-data")
REQUEST_TYPES = ("request-abort", "request-delay")
ROLLOUT_TYPES = ("canary-rollout",)  # a deployment event on the reference gateway (faults/rollout.py)
GPU_TYPES = ("gpu-exhaustion", "gpu-device-lost", "gpu-ecc-error", "gpu-thermal-throttle")
REGION_TYPES = ("region-partition",)  # every link into a region (faults/partition.py)

# The order the schema's enum and the messages list them in.
FAULT_TYPES: tuple[str, ...] = PROCESS_TYPES + LINK_TYPES + REQUEST_TYPES + ROLLOUT_TYPES + GPU_TYPES + REGION_TYPES
