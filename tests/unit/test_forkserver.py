"""The fork server (services/forkserver.py, stack/forkserver.py): a service forked from it is
what a plain spawn would have made (own session and group, command line, environment, working
directory, log, fresh random state), and `up` forks the Python services through it. A bare
fork server (no preload) and a small module of the test's own: no stack service is started."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

import psutil
import pytest

from chaosctl.stack import procs
from chaosctl.stack.forkserver import ForkServer
from chaosctl.stack.local import POLL
from chaosctl.stack.procs import ProcRecord
from chaosctl.waiting import wait_until

MODULE = "chaosctl_forkprobe_module"
PROBE = '''
import gc, os, random, sys, time
print("random", random.getrandbits(64), "env", os.environ.get("FORKPROBE"), "cwd", os.getcwd(), "args", sys.argv[1:])
print("gc enabled", gc.isenabled())
if "--atexit" in sys.argv:
    import atexit
    atexit.register(lambda: print("exit handler ran"))
if "--linger" in sys.argv:
    time.sleep(60)
'''


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ForkServer]:
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / f"{MODULE}.py").write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "mods")}
    fs = ForkServer(tmp_path / "forkserver.log", env=env, preload=False, module=MODULE)
    yield fs
    fs.close()


def _argv(*extra: str) -> list[str]:
    return [sys.executable, "-m", MODULE, "--name", "a-long-enough-service-name", *extra]


def _log_when(path: Path, text: str) -> str:
    return wait_until(lambda: path.read_text() if path.exists() else "", 20.0, interval=0.05,
                      done=lambda seen: text in seen)


def test_a_forked_service_is_its_own_session_with_its_command_line_cwd_env_and_log(server: ForkServer, tmp_path: Path) -> None:
    log, work = tmp_path / "logs" / "svc.log", tmp_path / "work"
    work.mkdir()
    argv = _argv("--linger")
    rec = server.spawn("svc", argv, log, env={"FORKPROBE": "yes", "PATH": os.environ["PATH"]}, cwd=work)
    assert rec is not None and rec.pid != server.proc.pid
    try:
        proc = psutil.Process(rec.pid)
        assert os.getsid(rec.pid) == rec.pid and os.getpgid(rec.pid) == rec.pid  # stopped by pid and group
        assert proc.cmdline() == argv  # what `ps`, discovery and process faults match on
        assert proc.ppid() != server.proc.pid  # forked twice: nobody's child in the fork server
        text = _log_when(log, "random")
        assert f"--- chaosctl: starting svc: {' '.join(argv)}" in text
        assert f"env yes cwd {work} args ['--name', 'a-long-enough-service-name', '--linger']" in text
        assert "gc enabled True" in _log_when(log, "gc enabled")  # off only while the fork server preloads
        server.close()  # the fork server ends with `up`; the services it forked do not
        assert procs.process(rec) is not None
    finally:
        assert procs.stop([rec], timeout=5.0) == []
    assert procs.process(rec) is None


def test_forked_services_do_not_share_the_fork_servers_random_state(server: ForkServer, tmp_path: Path) -> None:
    draws = []
    for i in range(2):
        log = tmp_path / f"svc{i}.log"
        rec = server.spawn(f"svc{i}", _argv(), log, env=dict(os.environ), cwd=tmp_path)
        assert rec is not None
        line = next(ln for ln in _log_when(log, "random").splitlines() if ln.startswith("random"))
        draws.append(line.split()[1])
    assert draws[0] != draws[1]  # trace and span ids come from `random`


def test_only_a_service_command_it_can_title_exactly_is_forked(server: ForkServer, tmp_path: Path) -> None:
    assert not server.handles([sys.executable, "-m", "http.server", "8000", "--bind", "127.0.0.1"])  # another module
    assert not server.handles(_argv("with space"))  # psutil would split it into two arguments
    assert not server.handles([sys.executable, "-m", MODULE])  # shorter than the fork server's own title
    assert server.spawn("other", ["/bin/true", "-m", MODULE, "x" * 80], tmp_path / "o.log") is None


def test_a_dead_fork_server_forks_nothing_and_the_caller_spawns(server: ForkServer, tmp_path: Path) -> None:
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    assert server.spawn("svc", _argv(), tmp_path / "svc.log", env=dict(os.environ), cwd=tmp_path) is None
    assert server.conn is None  # later starts go the plain way at once


@contextmanager
def _fake_forks(forked: list[str], refuse: frozenset[str], spawn, busy_until: float = 0.0,
                clock=None) -> Iterator[object]:
    class Forker:
        def pending(self) -> bool:
            return clock is not None and clock() < busy_until

        def spawn(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
                  cwd: Path | None = None) -> ProcRecord | None:
            if name in refuse:
                return None
            forked.append(name)
            return spawn(name, argv, log_path, env, cwd)

    yield Forker()


def test_up_forks_the_services_through_the_fork_server_and_spawns_what_it_refuses(tmp_path: Path) -> None:
    from test_local_backend_fakes import COMPONENTS, _stack

    backend, launcher, _, _ = _stack(tmp_path, {"registry": 1.0, "preprocess": 1.0, "gateway": 1.0})
    forked: list[str] = []
    backend.forks = lambda: _fake_forks(forked, frozenset({"gateway"}), launcher.spawn)
    backend.up()
    assert forked == ["registry", "preprocess"]
    assert sorted(n for n, _ in launcher.spawned) == sorted(COMPONENTS)  # the gateway spawned plainly, once
    assert backend._forker is None  # only for the duration of `up`


def test_while_the_fork_server_imports_up_holds_the_services_back_and_goes_on_probing(tmp_path: Path) -> None:
    from test_local_backend_fakes import _stack

    backend, launcher, clock, events = _stack(tmp_path, {"registry": 1.0, "preprocess": 1.0, "gateway": 1.0})
    forked: list[str] = []
    began = clock()
    backend.forks = lambda: _fake_forks(forked, frozenset(), launcher.spawn, busy_until=began + 3.0, clock=clock)
    backend.up()
    spawned = dict(launcher.spawned)
    assert began + 3.0 <= spawned["registry"] < began + 3.0 + 2 * POLL  # not before it can fork, and at once then
    assert forked == ["registry", "preprocess", "gateway"]


def test_a_fork_server_that_never_gets_ready_is_given_up_and_nothing_blocks(tmp_path: Path) -> None:
    stuck = tmp_path / "stuck"
    stuck.mkdir()
    (stuck / "setproctitle.py").write_text("import time\ntime.sleep(600)\n")  # imported before it says ready
    fs = ForkServer(tmp_path / "fs.log", env={**os.environ, "PYTHONPATH": str(stuck)}, preload=False, module=MODULE)
    try:
        assert fs.pending() is True  # alive, importing: not given up yet
        fs.started_at -= 3600  # long past its READY_TIMEOUT
        assert fs.pending() is False and fs.conn is None  # given up (and stopped): services spawn the plain way
        assert fs.proc.poll() is not None
        assert fs.spawn("svc", _argv(), tmp_path / "svc.log") is None
    finally:
        fs.close()


def test_a_forked_service_runs_its_exit_handlers(server: ForkServer, tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    rec = server.spawn("svc", _argv("--atexit"), log, env=dict(os.environ), cwd=tmp_path)
    assert rec is not None
    assert "exit handler ran" in _log_when(log, "exit handler ran")  # e.g. OpenTelemetry's span flush


def _scripted(tmp_path: Path) -> tuple[ForkServer, Connection]:
    """A ForkServer client whose peer is the test (the real bare server is closed: it would say
    both readiness steps at once)."""
    fs = ForkServer(tmp_path / "fs.log", preload=False, module=MODULE)
    assert fs.conn is not None
    fs.conn.close()  # the real one sees EOF and exits; the test speaks for it
    ours, theirs = socket.socketpair()
    fs.conn = Connection(ours.detach())
    return fs, Connection(theirs.detach())


def test_ups_poll_sleep_is_cut_short_when_the_fork_server_gets_ready(tmp_path: Path) -> None:
    fs, peer = _scripted(tmp_path)
    try:
        timer = threading.Timer(0.2, lambda: peer.send_bytes(b'{"ready": true}'))
        timer.start()
        began = time.monotonic()
        assert fs.wait(10.0) is True
        assert 0.15 < time.monotonic() - began < 5.0  # woken by the message, not the whole 10 s
        assert fs.wait(10.0) is True  # still unread: at once again, until `pending` reads it
        assert fs.pending() is False and fs.ready
        began = time.monotonic()
        assert fs.wait(10.0) is False and time.monotonic() - began < 1.0  # ready: the caller sleeps
        timer.join()
        fs.ready = False
        timer = threading.Timer(0.0, peer.close)  # the fork server died while importing
        timer.start()
        timer.join()
        began = time.monotonic()
        assert fs.wait(10.0) is True and time.monotonic() - began < 5.0  # EOF ends the sleep too ...
        assert fs.pending() is False and fs.conn is None  # ... and `pending` gives it up
        assert fs.wait(0.1) is False
    finally:
        fs.close()


def test_up_starts_the_held_services_when_the_fork_server_gets_ready_not_a_poll_later(tmp_path: Path) -> None:
    from test_local_backend_fakes import _stack

    backend, launcher, clock, _ = _stack(tmp_path, {"registry": 1.0, "preprocess": 1.0, "gateway": 1.0})
    began = clock()
    ready_at = began + 1.1  # between two polls (0.25 s apart)

    class Forker:
        def pending(self) -> bool:
            return clock() < ready_at

        def wait(self, seconds: float) -> bool:  # as ForkServer.wait, on the fake clock
            if clock() >= ready_at:
                return False
            clock.sleep(min(seconds, ready_at - clock()))
            return True

        def spawn(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
                  cwd: Path | None = None) -> ProcRecord | None:
            return launcher.spawn(name, argv, log_path, env, cwd)

    @contextmanager
    def forks() -> Iterator[Forker]:
        yield Forker()

    backend.forks = forks
    backend.up()
    spawned = dict(launcher.spawned)
    assert spawned["registry"] == spawned["preprocess"] == ready_at  # at once, not at the next poll (1.25 s)
