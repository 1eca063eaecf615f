"""Fixtures for every integration test.

* `stack` (session): the real local stack, brought up once on its own port base
  (env CHAOSCTL_TEST_PORT_BASE, default lanes.DEFAULT_PORT_BASE) and a temporary state dir, and
  ALWAYS torn down at the end of the session (which also checks that `down`
  left no process and no listening port).
* `live` (module): the session stack through the gateway (`_gateway_live.Live`), once a
  first prediction answers; a module may define its own `live` instead.
* `leak_check` (autouse): fails a test that leaves behind a process started
  from the test process, or a listening port, that was not there before it
  (the session stack's own processes excepted).

Integration tests are skipped (with the names of what is missing) only when a
required binary is missing; `make setup` installs them all. With CHAOSCTL_REQUIRE
naming it (`make test` sets "all") a missing binary fails the test instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from _gateway_live import Live, wait_until
from absent import component_missing
from lanes import live_port_base

from chaosctl.settings import Settings, load_settings
from chaosctl.stack import procs
from chaosctl.stack.backend import StackStatus
from chaosctl.stack.local import LocalBackend
from chaosctl.stack.state import load as load_state
from chaosctl.stack.tools import find_tool
from chaosctl.stack.topology import Topology

REQUIRED_BINARIES = ("etcd", "etcdctl", "prometheus", "toxiproxy-server", "jaeger", "redis-server", "chaosctl-kafka", "java")
PORT_BASE = live_port_base()
LEAK_GRACE_S = 5.0

# Backends of session-scoped stacks: their processes are not leaks of a test.
_session_backends: list[LocalBackend] = []


@dataclass(frozen=True)
class Stack:
    settings: Settings
    topology: Topology
    backend: LocalBackend
    status: StackStatus


def stack_settings(state_dir: Path, port_base: int = PORT_BASE) -> Settings:
    """Settings for a stack under test: real tools from the usual places, own base and dir."""
    return load_settings(state_dir=state_dir, port_base=port_base, backend="local")


def missing_binaries(settings: Settings) -> list[str]:
    return [name for name in REQUIRED_BINARIES if find_tool(name, settings) is None]


def skip_unless_binaries(settings: Settings) -> None:
    """Skip when a binary is missing; fail instead when `settings.require` names it."""
    missing = missing_binaries(settings)
    if missing:
        component_missing(missing, "binaries not found (install them with `make setup`)", settings)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = stack_settings(tmp_path_factory.mktemp("chaosctl-stack"))
    skip_unless_binaries(settings)
    backend = LocalBackend(settings)
    _session_backends.append(backend)
    try:
        status = backend.up()
        yield Stack(settings, backend.topology, backend, status)
    finally:
        try:
            backend.down()  # raises when a process or a port is left behind
        finally:
            _session_backends.remove(backend)


@contextmanager
def module_stack(settings: Settings, components: tuple[str, ...] | None = None) -> Iterator[LocalBackend]:
    """A module's own stack, shared by its tests: up, its processes (also those a test restarts)
    excepted from the leak check as the session stack's are, and always down (which checks)."""
    backend = LocalBackend(settings) if components is None else LocalBackend(settings, components=components)
    _session_backends.append(backend)
    try:
        backend.up()
        yield backend
    finally:
        try:
            backend.down()
        finally:
            _session_backends.remove(backend)


@pytest.fixture(scope="module")
def live(stack: Stack) -> Iterator[Live]:
    """The session stack seen through the gateway (tests/integration/_gateway_live), once it answers."""
    with httpx.Client(timeout=10.0) as client:
        lv = Live(stack.settings, stack.topology, client)
        wait_until(lambda: lv.predict().status_code == 200, 60, "a first prediction through the gateway")
        yield lv


@pytest.fixture
def own_stack_settings(tmp_path: Path):
    """Factory of Settings for a test's own stack at `PORT_BASE + offset` (skips when a binary is missing)."""

    def make(offset: int) -> Settings:
        settings = stack_settings(tmp_path / f"stack-{offset}", PORT_BASE + offset)
        skip_unless_binaries(settings)
        return settings

    return make


# -- leak check ------------------------------------------------------------------


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _session_pids() -> set[int]:
    """Processes of the session stacks (as they are now: a test may restart one)."""
    pids: set[int] = set()
    for backend in _session_backends:
        st = load_state(backend.settings.state_dir, backend.settings.port_base)
        for rec in st.procs.values():
            proc = procs.process(rec)
            if proc is None:
                continue
            pids.add(proc.pid)
            try:
                pids.update(c.pid for c in proc.children(recursive=True))
            except psutil.Error:
                pass
    return pids


def _processes() -> dict[int, str]:
    """Live descendants of the test process (pid -> command), session stacks excepted."""
    me = psutil.Process()
    skip = _session_pids()
    out: dict[int, str] = {}
    for child in me.children(recursive=True):
        if child.pid in skip or not _alive(child):
            continue
        try:
            out[child.pid] = " ".join(child.cmdline()[:4])
        except psutil.Error:
            continue
    return out


def _listening(pids: set[int]) -> set[tuple[int, int | None]]:
    """Listening TCP ports owned by `pids` (the test process and its descendants).

    Ownership, not a port range: other stacks on a shared machine listen nearby.
    """
    skip = _session_pids()
    out: set[tuple[int, int | None]] = set()
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.pid in pids and conn.pid not in skip:
            out.add((conn.laddr.port, conn.pid))
    return out


def _leaks(before_procs: dict[int, str], before_ports: set[tuple[int, int | None]]) -> list[str]:
    now = _processes()
    mine = {os.getpid(), *now}
    new_procs = [f"process {pid}: {cmd}" for pid, cmd in now.items() if pid not in before_procs]
    new_ports = [f"port {port} listening ({procs.describe(pid)})"
                 for port, pid in sorted(_listening(mine) - before_ports, key=lambda x: x[0])]
    return new_procs + new_ports


@pytest.fixture(autouse=True)
def leak_check() -> Iterator[None]:
    before_procs = _processes()
    before_ports = _listening({os.getpid(), *before_procs})
    yield
    deadline = time.monotonic() + LEAK_GRACE_S  # a process just signalled may need a moment
    while (leaks := _leaks(before_procs, before_ports)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if leaks:
        pytest.fail("test left behind:\n  " + "\n  ".join(leaks), pytrace=False)
