"""Status shape (docs/architecture.md, Outputs), `status` exit 3 when the stack is not up, `up` refusing a
busy port before it starts anything, `down` with nothing running, and `doctor`."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from chaosctl.cli import exit_code_for
from chaosctl.errors import StackUnavailable
from chaosctl.settings import Settings
from chaosctl.stack import show_status
from chaosctl.stack.backend import Backend, ComponentStatus, StackStatus
from chaosctl.stack.factory import get_backend
from chaosctl.stack.local import LocalBackend
from chaosctl.stack.topology import Topology

BASE = 21500


def _settings(tmp_path: Path, **kw) -> Settings:
    return Settings(state_dir=tmp_path / "state", port_base=BASE, **kw)


def test_status_json_shape():
    status = StackStatus(
        "local",
        (ComponentStatus("gateway", "ready", "http://127.0.0.1:21530", 42),
         ComponentStatus("jaeger", "stopped", "http://127.0.0.1:21562", None)),
        {"gateway": "http://127.0.0.1:21530"},
    )
    assert status.to_json() == {
        "backend": "local",
        "components": [
            {"name": "gateway", "state": "ready", "url": "http://127.0.0.1:21530", "pid": 42},
            {"name": "jaeger", "state": "stopped", "url": "http://127.0.0.1:21562", "pid": None},
        ],
        "endpoints": {"gateway": "http://127.0.0.1:21530"},
    }
    assert not status.all_ready and status.any_running
    assert StackStatus("local", (status.components[0],)).all_ready
    assert not StackStatus("local", ()).all_ready


def test_local_backend_satisfies_the_protocol(tmp_path):
    backend = get_backend(_settings(tmp_path))
    assert isinstance(backend, LocalBackend) and isinstance(backend, Backend)


def test_status_of_a_stack_that_is_not_up_prints_json_and_raises_exit_3(tmp_path, capsys):
    with pytest.raises(StackUnavailable, match="stack not up: nothing runs from .* on port base 21500") as err:
        show_status(_settings(tmp_path), json_out=True)
    assert exit_code_for(err.value) == 3
    out = json.loads(capsys.readouterr().out)
    topo = Topology(BASE)
    assert [c["name"] for c in out["components"]] == list(topo.components)
    assert {c["state"] for c in out["components"]} == {"stopped"}
    assert set(out["endpoints"]) == {"gateway", "registry", "prometheus", "jaeger", "toxiproxy"}
    assert out["endpoints"]["gateway"] == topo.url("gateway")


def test_up_refuses_a_busy_port_and_names_its_owner_before_starting_anything(tmp_path):
    settings = _settings(tmp_path)
    port = Topology(BASE).etcd_peer_port(1)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        with pytest.raises(StackUnavailable, match=rf"port {port} \(registry-store\[1\]\) is in use by pid {os.getpid()}"):
            LocalBackend(settings).up()
    assert not (settings.state_dir / "stack.json").exists()


def test_down_with_nothing_running_is_safe(tmp_path):
    backend = LocalBackend(_settings(tmp_path))
    backend.down()
    backend.down()
    assert not backend.status().any_running


def test_faults_on_a_stopped_component_say_so(tmp_path):
    backend = LocalBackend(_settings(tmp_path))
    with pytest.raises(StackUnavailable, match="registry-store\\[0\\] is not running"):
        backend.kill("registry-store[0]")
    with pytest.raises(StackUnavailable, match="unknown component 'nope'"):
        backend.pause("nope")
    assert backend.pid("gateway") is None and not backend.is_running("gateway") and not backend.is_paused("gateway")


def test_doctor_reports_missing_tools_with_how_to_get_them(tmp_path, monkeypatch, capsys):
    from chaosctl.stack.doctor import run_doctor

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(StackUnavailable, match="required components missing: etcd, etcdctl, prometheus, "
                       "redis-server, chaosctl-kafka, java, toxiproxy-server, jaeger") as err:
        run_doctor(_settings(tmp_path))
    assert exit_code_for(err.value) == 3
    out = capsys.readouterr().out
    assert "etcd-server" in out and "chaosctl setup" in out


def test_doctor_finds_tools_in_tool_dirs_first_and_reads_their_version(tmp_path, monkeypatch):
    from chaosctl.stack.doctor import BINARIES, check_binary

    tools = tmp_path / "bin"
    tools.mkdir()
    script = tools / "etcd"
    script.write_text("#!/bin/sh\necho 'etcd Version: 9.8.7'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    finding = check_binary(BINARIES[0], _settings(tmp_path, tool_dirs=(tools,)))
    assert (finding.found, finding.where, finding.version) == (True, str(script), "9.8.7")


def test_per_component_controls_on_a_recorded_process(tmp_path, capsys):
    """A tiny real process recorded as `gateway`: pause/resume/kill through the backend."""
    import sys

    from chaosctl.stack import procs, state

    settings = _settings(tmp_path)
    rec = procs.spawn("gateway", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "gw.log")
    state.save(settings.state_dir, state.StackState(BASE).with_proc(rec))
    backend = LocalBackend(settings)
    try:
        assert backend.is_running("gateway") and backend.pid("gateway") == rec.pid
        backend.pause("gateway")
        assert backend.is_paused("gateway") and backend.is_running("gateway")
        assert backend.status().component("gateway").state == "paused"
        backend.resume("gateway")
        assert not backend.is_paused("gateway")
        with pytest.raises(StackUnavailable, match=r"stack not fully up: .*gateway \(starting\)"):
            show_status(settings, json_out=True)  # running, but nothing answers /healthz
        backend.kill("gateway")
        assert not backend.is_running("gateway") and backend.pid("gateway") is None
    finally:
        assert procs.stop([rec], timeout=2.0) == []


def test_up_with_a_missing_binary_names_it_and_starts_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    settings = _settings(tmp_path)
    with pytest.raises(StackUnavailable, match=r"missing: chaosctl-kafka \(get it with: chaosctl setup.*etcd \(get it with: chaosctl setup.*jaeger") as err:
        LocalBackend(settings).up()
    assert exit_code_for(err.value) == 3
    assert not (settings.state_dir / "stack.json").exists()
