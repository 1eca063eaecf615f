"""`up`'s side of the fork server (services/forkserver.py): start it, have it fork services.

`up` starts one for its duration (`started()`), before anything else (its imports are the
longest pole); each Python service (`python -m chaosctl.services ...`) is then forked from it,
pre-imported, instead of started as a fresh interpreter. Anything else, and any service when the fork server cannot be had
(it died, answered an error, or setproctitle is missing), is started by the plain launcher:
the fork server only ever makes a start cheaper, never different in kind.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

import psutil

from chaosctl.stack.procs import ProcRecord

SERVICES_MODULE = "chaosctl.services"
# The preload: ~3.5 s of CPU; over 60 s of wall at load 40 on 2 cores, where spawning the services
# plainly instead costs them ~1-2.7 s of CPU each. Given up only as late as a service's own deadline.
READY_TIMEOUT = 120.0
ANSWER_TIMEOUT = 10.0


class ForkServer:
    """One running fork server; `spawn` returns None when it cannot fork (the caller spawns)."""

    def __init__(self, log_path: Path, env: Mapping[str, str] | None = None, preload: bool = True,
                 module: str = SERVICES_MODULE) -> None:
        self.module = module  # what it forks: `python -m MODULE ...` (tests: a small module of their own)
        ours, theirs = socket.socketpair()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.argv = (sys.executable, "-m", "chaosctl.services.forkserver", *(() if preload else ("bare",)))
        env = {**(env if env is not None else os.environ), "PYTHONUNBUFFERED": "1"}
        with open(log_path, "ab") as log, theirs:
            self.proc = subprocess.Popen(self.argv, stdin=theirs, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)  # fmt: skip
        self.conn: Connection | None = Connection(ours.detach())
        self.models_ready = False  # it can fork a model server (startorder.forked_early)
        self.ready = False  # it can fork any service
        self._steps = self._woken = 0  # readiness steps read, and those `wait` has returned for
        self.started_at = time.monotonic()

    def handles(self, argv: Sequence[str]) -> bool:
        """A Python service whose command line can be given to the fork exactly: a title is set in
        place of the fork server's own arguments, so it must be longer, and psutil splits it back
        into arguments on spaces, so none may hold one."""
        return (len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m" and argv[2] == self.module
                and not any(" " in a or not a for a in argv) and len(" ".join(argv)) > len(" ".join(self.argv)))

    def pending(self, early: bool = False) -> bool:
        """True while it is still importing what the service needs (never blocks): for an `early`
        one (a GPU model server, startorder.forked_early) what placing models needs, else all. `up`
        holds the services back meanwhile and goes on starting and probing the rest. False once
        it can fork it, or never will."""
        if self.conn is None:
            return False
        try:
            while not self._can(early) and self.conn.poll(0):
                self._read(0)
        except (OSError, EOFError, ValueError, KeyError):
            self.close()
            return False
        if self._can(early):
            return False
        if time.monotonic() - self.started_at > READY_TIMEOUT:
            self.close()  # stuck: the services start the plain way
            return False
        return True

    def spawn(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
              cwd: Path | None = None, early: bool = False) -> ProcRecord | None:
        if self.conn is None or not self.handles(argv):
            return None
        try:
            while not self._can(early):
                self._read(READY_TIMEOUT)
            _log_header(log_path, name, argv)
            request = {"argv": list(argv), "env": dict(env if env is not None else os.environ),
                       "log": str(log_path), "cwd": str(cwd or Path.cwd())}
            self.conn.send_bytes(json.dumps(request).encode())
            pid = int(self._expect(ANSWER_TIMEOUT, "pid"))
            return ProcRecord(name, pid, psutil.Process(pid).create_time(), str(log_path))
        except (OSError, EOFError, ValueError, KeyError, TypeError, psutil.Error):
            self.close()  # broken: every later start goes the plain way
            return None

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`; less when it reaches a readiness step not yet waited past (one
        reached while `up` polled counts too): what that step lets start need not wait a poll."""
        deadline = time.monotonic() + seconds
        while self._steps == self._woken and self.conn is not None and not self.ready:
            try:
                if not self.conn.poll(max(0.0, deadline - time.monotonic())):
                    return
                self._read(0)
            except (OSError, EOFError, ValueError, KeyError):
                break  # broken: `pending` finds out and closes it
        if self._steps != self._woken:
            self._woken = self._steps
            return
        time.sleep(max(0.0, deadline - time.monotonic()))

    def _can(self, early: bool) -> bool:
        return self.ready or (early and self.models_ready)

    def _read(self, timeout: float) -> dict[str, object]:
        """The next message; a readiness step ({"ready": "models"} then {"ready": true}) is noted."""
        assert self.conn is not None
        if not self.conn.poll(timeout):
            raise OSError(f"fork server: no answer within {timeout:.0f} s")
        message = json.loads(self.conn.recv_bytes())
        if "ready" in message:
            self._steps += 1
            self.models_ready = True  # true implies "models"
            self.ready = self.ready or message["ready"] is True
        return message

    def _expect(self, timeout: float, key: str) -> object:
        """The answer's `key` (a readiness step sent meanwhile is noted and skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(max(0.0, deadline - time.monotonic()))
            if key in message:
                return message[key]
            if "ready" not in message:
                raise KeyError(key)  # {"error": ...}: the caller spawns plainly

    def close(self) -> None:
        """EOF tells it to exit; the services it forked are not its children and live on."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if not self.ready and self.proc.poll() is None:
            self.proc.kill()  # still importing (`up` failed, or gave up on it): stop it now (what it forked lives on)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _log_header(log_path: Path, name: str, argv: Sequence[str]) -> None:
    """The same header line `procs.spawn` writes."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        command = shlex.join(argv).replace("\n", "\\n")
        log.write(f"\n--- chaosctl: starting {name}: {command}\n".encode())


@contextmanager
def started(log_path: Path, env: Mapping[str, str] | None = None) -> Iterator[ForkServer | None]:
    """A fork server for the duration of the block (None when it cannot be started)."""
    try:
        server = ForkServer(log_path, env)
    except OSError:
        yield None
        return
    try:
        yield server
    finally:
        server.close()
