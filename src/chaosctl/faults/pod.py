"""process-kill / process-restart on a System's `pod` component: a Chaos Mesh PodChaos
object (action pod-kill) created through the official Kubernetes client.

The object's name comes from the fault id (`chaosctl-<id>`), so the journal
record alone is enough for a revert, from the run or from `chaosctl recover`:
delete exactly that object (404 counts as done). Chaos Mesh kills the matching
pod(s) once; the workload's controller brings them back. A pod cannot be
SIGSTOPped, so process-pause is refused at validate (system.model.FAULTS_BY_KIND).

No cluster is reachable where chaosctl is developed: the objects and the
inject/verify/revert/recover path are tested against a fake API
(tests/unit/test_faults_system_kinds.py); see docs/system-format.md.
The client is `ctx.clients["kubernetes"]` when given, else the `kubernetes`
package's CustomObjectsApi for the component's kubeconfig context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaosctl.errors import FaultError, StackUnavailable

from .base import Fault, FaultContext, FaultRecord

if TYPE_CHECKING:
    from chaosctl.system.model import PodComponent

GROUP, VERSION, PLURAL = "chaos-mesh.org", "v1alpha1", "podchaos"
MANAGED_BY = {"app.kubernetes.io/managed-by": "chaosctl"}


def object_name(record: FaultRecord) -> str:
    return f"chaosctl-{record.id}"


def pod_chaos(record: FaultRecord, comp: "PodComponent") -> dict[str, Any]:
    """The PodChaos object this fault creates."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PodChaos",
        "metadata": {"name": object_name(record), "namespace": comp.namespace,
                     "labels": {**MANAGED_BY, "chaosctl/fault": record.type}},
        "spec": {
            "action": "pod-kill",
            "mode": comp.mode,
            "selector": {"namespaces": [comp.namespace], "labelSelectors": dict(comp.selector)},
        },
    }


def kubernetes_api(ctx: FaultContext, comp: "PodComponent") -> Any:
    factory = ctx.clients.get("kubernetes")
    if factory is not None:
        return factory()
    try:
        from kubernetes import client, config
    except ImportError as exc:
        raise StackUnavailable("pod faults need the `kubernetes` package (pip install kubernetes)") from exc
    try:
        config.load_kube_config(context=comp.context)
    except Exception as exc:  # noqa: BLE001 - ConfigException and friends: no cluster configured
        raise StackUnavailable(f"no Kubernetes cluster configured for pod faults: {exc}") from exc
    return client.CustomObjectsApi()


def _status(exc: Exception) -> int | None:
    return getattr(exc, "status", None)


@dataclass
class PodKillFault:
    record: FaultRecord
    ctx: FaultContext
    _api: Any = field(default=None, init=False)

    @property
    def comp(self) -> "PodComponent":
        return self.ctx.component(self.record.target)  # type: ignore[no-any-return]

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = kubernetes_api(self.ctx, self.comp)
        return self._api

    def inject(self) -> None:
        api = self.api  # no cluster: StackUnavailable, not a fault error
        try:
            api.create_namespaced_custom_object(GROUP, VERSION, self.comp.namespace, PLURAL,
                                                     pod_chaos(self.record, self.comp))
        except Exception as exc:  # noqa: BLE001 - ApiException; 409 is a retried inject
            if _status(exc) != 409:
                raise FaultError(f"{self.record.label}: Chaos Mesh PodChaos not created: {exc}") from exc

    def verify(self) -> str:
        api = self.api
        try:
            got = api.get_namespaced_custom_object(GROUP, VERSION, self.comp.namespace, PLURAL,
                                                        object_name(self.record))
        except Exception as exc:  # noqa: BLE001
            raise FaultError(f"{self.record.label}: PodChaos {object_name(self.record)} not found: {exc}") from exc
        spec = got.get("spec", {})
        return (f"PodChaos {self.comp.namespace}/{object_name(self.record)} ({spec.get('action')}, "
                f"mode {spec.get('mode')}, pods {spec.get('selector', {}).get('labelSelectors')})")

    def revert(self) -> None:
        api = self.api
        try:
            api.delete_namespaced_custom_object(GROUP, VERSION, self.comp.namespace, PLURAL,
                                                     object_name(self.record))
        except Exception as exc:  # noqa: BLE001
            if _status(exc) != 404:  # already gone: reverted
                raise FaultError(f"{self.record.label}: PodChaos not deleted: {exc}") from exc


def pod_fault(record: FaultRecord, ctx: FaultContext) -> Fault:
    return PodKillFault(record, ctx)
