"""Is the process we started still the one behind this pid? (pid reuse makes a bare pid unsafe to signal)."""

from __future__ import annotations

SAME_START_S = 1.0  # create_time is read from /proc with jiffy resolution; 1 s cannot confuse two processes


def alive(pid: int, started: float) -> bool:
    """True while `pid` runs, is not a zombie, and was created at `started` (its psutil create_time)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - started) < SAME_START_S and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
