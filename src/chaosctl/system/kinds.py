"""Which scenario fault types reach a component of each kind: plain data and one rule, no pydantic.

The System models (model.py) read them for `Component.faults`; `chaosctl validate` of a scenario
that names no System reads them too (facts.py), without building the System models.
"""

from __future__ import annotations

from chaosctl.stack.topology import MODEL_SERVERS, PIPELINE_STAGES

# Which scenario fault types reach a component of each kind (the rest are refused at validate).
_PROCESS_FAULTS = ("process-kill", "process-pause", "process-restart")
# Request-scoped faults reach the reference gateway and model servers (their /admin/request-faults);
# a user's service gets them on a link, through chaosctl's HTTP fault proxy.
REQUEST_FAULTS = ("request-abort", "request-delay")
FAULTS_BY_KIND: dict[str, tuple[str, ...]] = {
    "process": _PROCESS_FAULTS,
    "container": _PROCESS_FAULTS,  # docker kill / pause / restart
    "pod": ("process-kill", "process-restart"),  # Chaos Mesh PodChaos: pod-kill (a pod cannot be SIGSTOPped)
    "gpu-host": ("gpu-exhaustion",),  # a `chaosctl gpu-hog` process holds the device memory
    "reference": _PROCESS_FAULTS,  # through the reference stack's backend (local processes or docker)
    "reference-modelserver": (*_PROCESS_FAULTS, "gpu-exhaustion", "gpu-device-lost", "gpu-ecc-error",
                              "gpu-thermal-throttle", *REQUEST_FAULTS),  # backend + the model server's admin API
}
_REQUEST_REACH = frozenset({"gateway", *(m.name for m in MODEL_SERVERS), *PIPELINE_STAGES})  # `reference` ones too (model-cpu-1)


def reference_faults(kind: str, stack_name: str) -> tuple[str, ...]:
    """The fault types of a reference component (`reference` or `reference-modelserver`)."""
    faults = FAULTS_BY_KIND[kind]
    if stack_name in _REQUEST_REACH and not set(REQUEST_FAULTS) <= set(faults):
        faults = (*faults, *REQUEST_FAULTS)
    if stack_name == "gateway":  # its rollout controller (/admin/rollouts, services/gateway/rollout.py)
        faults = (*faults, "canary-rollout")
    return faults
