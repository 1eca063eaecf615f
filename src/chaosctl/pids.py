"""Is the process behind a recorded pid still the one we started? One rule for every module that
signals a pid it wrote down (the stack's components, fault helpers, Locust, autoscaler replicas).

A pid alone is unsafe (pids are reused: pid_max is 32768 on these machines), so each record keeps
the process's psutil `create_time` too. That time is not stable to the jiffy: psutil adds the start
ticks to the boot time, and Linux recomputes `btime` in /proc/stat from the wall clock on every
read, in whole seconds, so while the clock is slewed it flips by one second. A tolerance of a
fraction of a second then takes every live process of the stack for a stranger (seen: `up` failed
one component as "exited" and `down` left the whole stack running). Two seconds absorbs the flip;
a reused pid would need a process that died within two seconds of its start and 32,768 forks in
those two seconds.
"""

from __future__ import annotations

SAME_START_S = 2.0


def same_start(created: float, recorded: float) -> bool:
    """True when a process created at `created` is the one recorded as created at `recorded`."""
    return abs(created - recorded) < SAME_START_S
