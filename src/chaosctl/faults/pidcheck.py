"""Is the process we started still the one behind this pid? (pid reuse makes a bare pid unsafe to signal)."""

from __future__ import annotations

from chaosctl.pids import same_start


def alive(pid: int, started: float) -> bool:
    """True while `pid` runs, is not a zombie, and was created at `started` (its psutil create_time)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return same_start(proc.create_time(), started) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def terminate(pid: int, started: float, grace_s: float, poll_s: float = 0.05) -> None:
    """SIGTERM the process we started, SIGKILL it after `grace_s`; a pid that is gone or now
    belongs to another process (other create time) is never signalled. Reaped when our child."""
    import os
    import signal

    from chaosctl.waiting import wait_until

    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not alive(pid, started):
            break
        try:
            os.kill(pid, sig)
        except ProcessLookupError:  # it exited between the check and the signal
            break
        if sig == signal.SIGTERM:
            wait_until(lambda: not alive(pid, started), grace_s, interval=poll_s)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
