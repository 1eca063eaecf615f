"""`down` and a failed `up` on a stack of their own (etcd x3, Toxiproxy, Jaeger,
Prometheus, no services) so that the session stack is not disturbed."""

from __future__ import annotations

import psutil
import pytest

from chaosctl.errors import StackUnavailable
from chaosctl.stack import components as comps
from chaosctl.stack import procs
from chaosctl.stack.local import LocalBackend

pytestmark = pytest.mark.integration

INFRA = ("registry-store[0]", "registry-store[1]", "registry-store[2]", "toxiproxy", "jaeger", "prometheus")
# An own port base, clear of the session stack's (base .. base+~110).
OWN_OFFSET = 300


@pytest.fixture
def infra(own_stack_settings):
    backend = LocalBackend(own_stack_settings(OWN_OFFSET), components=INFRA)
    try:
        yield backend
    finally:
        backend.down()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_down_leaves_no_process_and_no_listening_port(infra):
    status = infra.up()
    assert status.all_ready
    pids = [c.pid for c in status.components]
    infra.down()
    assert all(_gone(pid) for pid in pids)
    assert procs.listeners(comps.all_ports(infra.topology)) == {}
    assert not (infra.settings.state_dir / "stack.json").exists()
    assert not infra.status().any_running
    infra.down()  # safe when nothing runs


def test_down_stops_paused_components_too(infra):
    infra.up()
    infra.pause("prometheus")
    infra.pause("registry-store[2]")
    pids = [c.pid for c in infra.status().components]
    infra.down()
    assert all(_gone(pid) for pid in pids)


def test_failed_start_names_the_component_shows_its_log_and_stops_the_rest(infra):
    # member 1's data dir is a file: etcd cannot create it and exits
    data = comps.etcd_data_dir(infra.settings, "registry-store[1]")
    data.parent.mkdir(parents=True)
    data.write_text("not a directory")
    with pytest.raises(StackUnavailable) as err:
        infra.up()
    message = str(err.value)
    assert message.startswith("registry-store[1] failed to start: exited (exit code")
    assert "--- last lines of" in message and "registry-store-1.log" in message
    assert not infra.status().any_running
    assert procs.listeners(comps.all_ports(infra.topology)) == {}


def test_up_resumes_a_component_left_paused(infra):
    infra.up()
    pid = infra.pid("jaeger")
    infra.pause("jaeger")
    status = infra.up()
    assert status.all_ready and not infra.is_paused("jaeger") and infra.pid("jaeger") == pid


def test_cli_up_without_etcd_on_path_exits_3_naming_it(own_stack_settings, tmp_path):
    import os
    import subprocess
    import sys

    settings = own_stack_settings(OWN_OFFSET)
    env = dict(os.environ, PATH=str(tmp_path / "empty-bin"), CHAOSCTL_PORT_BASE=str(settings.port_base),
               CHAOSCTL_STATE_DIR=str(settings.state_dir))
    result = subprocess.run([sys.executable, "-m", "chaosctl.cli", "up"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert "chaosctl: cannot start the stack, missing: etcd (get it with: chaosctl setup" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (settings.state_dir / "stack.json").exists()
