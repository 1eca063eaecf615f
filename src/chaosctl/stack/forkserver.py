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
        self.ready = False
        self.started_at = time.monotonic()

    def handles(self, argv: Sequence[str]) -> bool:
        """A Python service whose command line can be given to the fork exactly: a title is set in
        place of the fork server's own arguments, so it must be longer, and psutil splits it back
        into arguments on spaces, so none may hold one."""
        return (len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m" and argv[2] == self.module
                and not any(" " in a or not a for a in argv) and len(" ".join(argv)) > len(" ".join(self.argv)))

    def pending(self) -> bool:
        """True while it is still importing (never blocks): `up` holds the services back meanwhile
        and goes on starting and probing the rest. False once it can fork, or never will."""
        if self.conn is None or self.ready:
            return False
        try:
            if self.conn.poll(0):
                self._expect(0, "ready")
                self.ready = True
                return False
        except (OSError, EOFError, ValueError, KeyError):
            self.close()
            return False
        if time.monotonic() - self.started_at > READY_TIMEOUT:
            self.close()  # stuck: the services start the plain way
            return False
        return True

    def wait(self, seconds: float) -> bool:
        """`up`'s poll sleep while it imports: up to `seconds`, less once it says it is ready (a
        message not yet read by `pending` ends it at once), so that the services held for it start
        then, not a poll later. False, at once, when it is not importing (the caller sleeps)."""
        if self.conn is None or self.ready:
            return False
        try:
            self.conn.poll(seconds)  # the message (or EOF): the next `pending` reads it
        except (OSError, EOFError):
            return False  # broken: `pending` finds out and closes it
        return True

    def spawn(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> ProcRecord | None:
        if self.conn is None or not self.handles(argv):
            return None
        try:
            if not self.ready:
                self._expect(READY_TIMEOUT, "ready")
                self.ready = True
            _log_header(log_path, name, argv)
            request = {"argv": list(argv), "env": dict(env if env is not None else os.environ),
                       "log": str(log_path), "cwd": str(cwd or Path.cwd())}
            self.conn.send_bytes(json.dumps(request).encode())
            pid = int(self._expect(ANSWER_TIMEOUT, "pid"))
            return ProcRecord(name, pid, psutil.Process(pid).create_time(), str(log_path))
        except (OSError, EOFError, ValueError, KeyError, psutil.Error):
            self.close()  # broken: every later start goes the plain way
            return None

    def _expect(self, timeout: float, key: str) -> object:
        assert self.conn is not None
        if not self.conn.poll(timeout):
            raise OSError(f"fork server: no answer within {timeout:.0f} s")
        return json.loads(self.conn.recv_bytes())[key]

    def close(self) -> None:
        """EOF tells it to exit; the services it forked are not its children and live on."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if not self.ready and self.proc.poll() is None:
            self.proc.kill()  # still importing (`up` failed its checks): it has forked nothing, stop it now
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
