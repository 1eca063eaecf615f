"""Faults on a user's System, by component kind: container (a fake Docker client),
pod (a fake Kubernetes CustomObjects API: the Chaos Mesh objects and the
journal/recover path), process (real local processes started here), gpu-host (a
clear refusal without a device), and only declared components are reachable."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from chaosctl.errors import FaultError, StackUnavailable
from chaosctl.faults.base import SYSTEM_PARAM, FaultContext, FaultRecord
from chaosctl.faults.catalogue import build_fault, fault_from_record
from chaosctl.faults.journal import Journal
from chaosctl.runner.recover import recover_faults
from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology
from chaosctl.system.load import load_system

SYSTEM = """\
apiVersion: chaosctl/v1
kind: System
metadata: {{name: shop}}
observability:
  prometheus: {{url: "http://127.0.0.1:9"}}
slis: {{preset: otel-http}}
components:
  - {{name: web, kind: container, container: shop-web}}
  - {{name: db, kind: pod, namespace: shop, selector: {{app: db}}, mode: all}}
  - {{name: worker, kind: process, match: '{marker}', start: ["{python}", "-c", "{script}", "{marker}"],
     ready: {{tcp: "127.0.0.1:{port}", timeout: 20s}}}}
  - {{name: gpu, kind: gpu-host, device: 0}}
"""
# A process that listens on `port` (its ready check) and carries a unique marker in its command line.
SCRIPT = ("import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
          "s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(600)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def world(tmp_path: Path) -> dict[str, Any]:
    port = _free_port()
    marker = f"chaosctl-test-worker-{tmp_path.name}-{port}"
    script = SCRIPT.format(port=port)
    path = tmp_path / "shop.system.yaml"
    path.write_text(SYSTEM.format(marker=marker, python=sys.executable, script=script, port=port))
    settings = Settings(state_dir=tmp_path / "state", port_base=24300)
    docker, k8s = FakeDocker(), FakeCustomObjects()
    ctx = FaultContext(settings, Topology(24300), backend_factory=lambda: None, system=load_system(path),
                       system_path=path, clients={"docker": lambda: docker, "kubernetes": lambda: k8s})
    argv = [sys.executable, "-c", script, marker]
    yield {"ctx": ctx, "docker": docker, "k8s": k8s, "path": path, "settings": settings, "argv": argv,
           "marker": marker, "port": port}
    for proc in psutil.process_iter(["cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or []):
            proc.kill()


# ---------------------------------------------------------------- fakes


class FakeContainer:
    def __init__(self) -> None:
        self.status = "running"
        self.calls: list[str] = []

    def reload(self) -> None:
        pass

    def _do(self, call: str, status: str) -> None:
        self.calls.append(call)
        self.status = status

    def kill(self) -> None:
        self._do("kill", "exited")

    def start(self) -> None:
        self._do("start", "running")

    def pause(self) -> None:
        self._do("pause", "paused")

    def unpause(self) -> None:
        self._do("unpause", "running")

    def restart(self) -> None:
        self._do("restart", "running")


class FakeDocker:
    def __init__(self) -> None:
        self.known = {"shop-web": FakeContainer()}
        self.containers = self

    def get(self, name: str) -> FakeContainer:
        if name not in self.known:
            raise LookupError(f"404 Client Error: No such container: {name}")
        return self.known[name]


class ApiError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"({status})")
        self.status = status


class FakeCustomObjects:
    """The three CustomObjectsApi calls the pod fault makes, over a dict."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.deleted: list[str] = []

    def create_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, body: dict) -> dict:
        key = (namespace, plural, body["metadata"]["name"])
        assert (group, version) == ("chaos-mesh.org", "v1alpha1")
        if key in self.objects:
            raise ApiError(409)
        self.objects[key] = body
        return body

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str) -> dict:
        if (namespace, plural, name) not in self.objects:
            raise ApiError(404)
        return self.objects[(namespace, plural, name)]

    def delete_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str) -> dict:
        self.deleted.append(name)
        if self.objects.pop((namespace, plural, name), None) is None:
            raise ApiError(404)
        return {}


def _record(ftype: str, target: str, fid: str = "f1", **params: Any) -> FaultRecord:
    return FaultRecord(fid, ftype, target, params)


# ---------------------------------------------------------------- container


def test_container_kill_pause_restart_through_the_docker_client(world: dict[str, Any]) -> None:
    ctx, web = world["ctx"], world["docker"].known["shop-web"]
    kill = fault_from_record(_record("process-kill", "web"), ctx)
    kill.inject()
    assert kill.verify() == "container shop-web is exited"
    kill.revert()
    kill.revert()  # idempotent: running already
    assert web.calls == ["kill", "start"] and web.status == "running"
    pause = fault_from_record(_record("process-pause", "web"), ctx)
    pause.inject()
    assert "paused" in pause.verify()
    pause.revert()
    pause.revert()
    assert web.calls[-2:] == ["pause", "unpause"] and web.status == "running"
    with pytest.raises(FaultError, match="process-pause web: container shop-web is running"):
        pause.verify()


def test_an_unknown_container_is_a_fault_error_naming_it(world: dict[str, Any]) -> None:
    del world["docker"].known["shop-web"]
    with pytest.raises(FaultError, match="container 'shop-web': 404 Client Error"):
        fault_from_record(_record("process-kill", "web"), world["ctx"]).inject()


# ---------------------------------------------------------------- pod


def test_pod_kill_creates_a_chaos_mesh_podchaos_and_revert_deletes_it(world: dict[str, Any]) -> None:
    ctx, k8s = world["ctx"], world["k8s"]
    fault = fault_from_record(_record("process-kill", "db", "abc123"), ctx)
    fault.inject()
    fault.inject()  # a retried inject: 409 is fine
    assert k8s.objects == {("shop", "podchaos", "chaosctl-abc123"): {
        "apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
        "metadata": {"name": "chaosctl-abc123", "namespace": "shop",
                     "labels": {"app.kubernetes.io/managed-by": "chaosctl", "chaosctl/fault": "process-kill"}},
        "spec": {"action": "pod-kill", "mode": "all", "selector": {"namespaces": ["shop"], "labelSelectors": {"app": "db"}}},
    }}
    assert fault.verify() == "PodChaos shop/chaosctl-abc123 (pod-kill, mode all, pods {'app': 'db'})"
    fault.revert()
    fault.revert()  # 404: already reverted
    assert k8s.objects == {} and k8s.deleted == ["chaosctl-abc123", "chaosctl-abc123"]
    with pytest.raises(FaultError, match="not found"):
        fault.verify()


def test_a_pod_cannot_be_paused(world: dict[str, Any]) -> None:
    with pytest.raises(FaultError, match="process-pause cannot reach 'db'"):
        fault_from_record(_record("process-pause", "db"), world["ctx"])


def test_recover_finds_the_system_of_each_journaled_fault_and_reverts_it(world: dict[str, Any]) -> None:
    """The run journals the System file with each record; `recover` (whose own context knows
    only the reference stack) rebuilds the pod and container faults from it."""
    ctx, k8s, web = world["ctx"], world["k8s"], world["docker"].known["shop-web"]
    journal = Journal(world["settings"].journal_path)
    for spec in ({"type": "process-kill", "target": "db"}, {"type": "process-pause", "target": "web"}):
        fault = build_fault(spec, ctx)
        assert fault.record.params[SYSTEM_PARAM] == str(world["path"])
        journal.record_inject(fault.record)
        fault.inject()
    assert len(k8s.objects) == 1 and web.status == "paused"
    plain = FaultContext(world["settings"], Topology(24300), backend_factory=lambda: None, clients=ctx.clients)
    lines: list[str] = []
    left = len(journal.pending())
    assert left >= 2 and recover_faults(world["settings"], echo=lines.append, ctx=plain) == left, lines
    assert k8s.objects == {} and web.status == "running"
    assert journal.pending() == []
    assert recover_faults(world["settings"], echo=lines.append, ctx=plain) == 0  # twice: nothing left


# ---------------------------------------------------------------- process


def _start(world: dict[str, Any]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(world["argv"], stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", world["port"]), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise AssertionError("worker did not listen")


def test_process_kill_is_reverted_by_the_start_command_and_the_ready_check(world: dict[str, Any]) -> None:
    first = _start(world)
    fault = fault_from_record(_record("process-kill", "worker"), world["ctx"])
    fault.inject()
    first.wait(5)
    assert fault.verify() == f"worker (pid {first.pid}) is gone"
    assert fault.journal_state() == {"pid": first.pid, "create_time": fault.created}
    fault.revert()  # runs `start`, waits until the port answers
    socket.create_connection(("127.0.0.1", world["port"]), timeout=1).close()
    again = [p for p in psutil.process_iter(["cmdline"]) if world["marker"] in " ".join(p.info["cmdline"] or [])]
    assert len(again) == 1 and again[0].pid != first.pid
    fault.revert()  # idempotent: it runs, nothing is started twice
    assert len([p for p in psutil.process_iter(["cmdline"]) if world["marker"] in " ".join(p.info["cmdline"] or [])]) == 1


def test_process_pause_stops_and_resumes_the_same_pid(world: dict[str, Any]) -> None:
    proc = _start(world)
    fault = fault_from_record(_record("process-pause", "worker"), world["ctx"])
    fault.inject()
    assert fault.verify() == f"worker (pid {proc.pid}) is in state T (stopped)"
    again = fault_from_record(FaultRecord("f1", "process-pause", "worker", {"pid": proc.pid}), world["ctx"])
    again.revert()  # as `recover` would: from the journaled pid
    assert psutil.Process(proc.pid).status() != psutil.STATUS_STOPPED
    proc.kill()
    proc.wait(5)


def test_a_journaled_pid_now_held_by_another_process_is_already_gone_and_never_signalled(world: dict[str, Any]) -> None:
    """pid reuse: the journal names the pid with its process's create time; a process holding that
    pid with another create time is a stranger (here a stopped one, which a SIGCONT would resume)."""
    fault = fault_from_record(_record("process-pause", "worker"), world["ctx"])
    proc = _start(world)
    fault.inject()
    state = fault.journal_state()
    assert state["pid"] == proc.pid and state["create_time"] == pytest.approx(psutil.Process(proc.pid).create_time())
    stranger = FaultRecord("f1", "process-pause", "worker", {"pid": proc.pid, "create_time": float(state["create_time"]) - 60})
    fault_from_record(stranger, world["ctx"]).revert()  # as `recover` would, after the pid was reused
    assert psutil.Process(proc.pid).status() == psutil.STATUS_STOPPED  # not signalled
    fault_from_record(FaultRecord("f1", "process-pause", "worker", dict(state)), world["ctx"]).revert()
    assert psutil.Process(proc.pid).status() != psutil.STATUS_STOPPED  # the same process: resumed
    proc.kill()
    proc.wait(5)


def test_a_match_finding_zero_or_two_processes_is_refused_before_any_fault(world: dict[str, Any]) -> None:
    from chaosctl.faults.localproc import resolve_pid

    comp = world["ctx"].component("worker")
    with pytest.raises(StackUnavailable, match=r"component 'worker': no live process found by match"):
        resolve_pid(comp)
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", world["marker"]]) for _ in range(2)]
    try:
        with pytest.raises(StackUnavailable, match=r"finds 2 live processes .* it must find exactly one"):
            resolve_pid(comp)
    finally:
        for p in procs:
            p.kill()
            p.wait(5)


# ---------------------------------------------------------------- gpu-host, declared targets


def test_gpu_hog_refuses_clearly_without_a_device(world: dict[str, Any]) -> None:
    from chaosctl.faults.gpuhog import device_problem

    why = device_problem(0)
    if why is None:
        pytest.skip("this machine has a CUDA device: the refusal path does not apply (the hog would really run)")
    fault = fault_from_record(_record("gpu-exhaustion", "gpu", memory=0.5), world["ctx"])
    with pytest.raises(FaultError, match="gpu-exhaustion gpu: no CUDA device on this machine"):
        fault.inject()
    fault.revert()  # nothing was started: nothing to stop


def test_gpu_hog_holds_memory_until_reverted(world: dict[str, Any]) -> None:
    from chaosctl.faults.gpuhog import device_problem

    why = device_problem(0)
    if why is not None:
        pytest.skip(f"needs a CUDA device: {why}")
    fault = fault_from_record(_record("gpu-exhaustion", "gpu", bytes=64 * 1024 * 1024), world["ctx"])
    fault.inject()
    try:
        assert "holding 67108864 bytes on device 0" in fault.verify()
    finally:
        fault.revert()
    with pytest.raises(FaultError):
        fault.verify()


def test_faults_reach_only_declared_components(world: dict[str, Any]) -> None:
    with pytest.raises(FaultError, match="'payments' is not a component of System 'shop': faults reach only declared"):
        fault_from_record(_record("process-kill", "payments"), world["ctx"])
    with pytest.raises(FaultError, match="'link:web->db' is not a link of System 'shop'"):
        fault_from_record(_record("latency", "link:web->db", latency=0.1), world["ctx"]).inject()


def test_pod_faults_without_a_cluster_say_so(world: dict[str, Any], tmp_path: Path, monkeypatch) -> None:
    """The real client path (the pinned `kubernetes` package): no kubeconfig here -> exit 3 naming it."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    world["ctx"].clients.pop("kubernetes")
    fault = fault_from_record(_record("process-kill", "db"), world["ctx"])
    with pytest.raises(StackUnavailable, match="no Kubernetes cluster configured for pod faults"):
        fault.inject()
