"""The run lock: an flock on `state_dir/run.lock`, held for the whole of a run
(and of a `recover`), so that a second `run` or a `recover` cannot revert or
inject under a live run's feet. It names the holder's pid.

flock, not a pid file alone: the kernel drops the lock when its holder dies,
even by SIGKILL, so a stale lock never needs cleaning up (`recover` after a
SIGKILL gets it at once). The file descriptor is not inherited by the
processes a run starts (Python opens files non-inheritable, PEP 446), so a
component restarted by a revert does not keep the lock after the run.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from chaosctl.errors import RunLocked, UsageError

FILENAME = "run.lock"


class RunLock:
    def __init__(self, state_dir: Path, what: str = "run") -> None:
        self.path = Path(state_dir) / FILENAME
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise RunLocked naming the live run's pid (never waits)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise UsageError(f"{self.path}: cannot open the run lock: {exc.strerror} (check the state dir, CHAOSCTL_STATE_DIR)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "a process that has not written its pid yet"
            raise RunLocked(f"cannot {self.what}: a chaosctl run is in progress ({who}; lock {self.path}); "
                            "wait for it to finish or interrupt it (Ctrl-C / kill -INT), then try again") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # the file stays (removing it would race with a waiting locker)
        finally:
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _read_holder(fd: int) -> int | None:
    """The pid the holder wrote; None when unreadable (a malformed file is not trusted)."""
    try:
        raw = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**22 else None
