"""Waiting on a condition, with the clock and the sleep as parameters.

Every "poll until ready or give up" in chaosctl goes through `wait_until`, so that the stack's
`up`/`down`, the faults and the tests wait the same way and a unit test can drive the time with a
fake clock instead of sleeping. It sits at the bottom of the layers (it imports nothing of
chaosctl), so the run engine, the stack and the faults can all import it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
Clock = Callable[[], float]  # seconds, monotonic
Sleep = Callable[[float], None]


def _truthy(value: object) -> bool:
    return bool(value)


def wait_until(
    check: Callable[[], T],
    timeout: float,
    *,
    interval: float = 0.25,
    done: Callable[[T], bool] = _truthy,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> T:
    """Call `check` until `done(value)` (by default: the value is truthy) and return that value;
    once `timeout` seconds have passed, return the last value, for the caller to say why.

    `check` runs at least once, and once more at the deadline (the last sleep is cut to end
    there), so a condition that holds by the deadline is never reported as timed out.
    Exceptions from `check` propagate: failing fast is the caller's choice."""
    deadline = clock() + timeout
    while True:
        value = check()
        if done(value):
            return value
        left = deadline - clock()
        if left <= 0:
            return value
        sleep(min(interval, left))


def http_answers(url: str, timeout: float = 1.0) -> bool:
    """True when `url` answers HTTP below 500 (up, even if it refuses the request); False when
    it does not answer or answers 5xx. For `wait_until(lambda: http_answers(url), ...)`."""
    import httpx  # only where an HTTP wait is needed

    try:
        return httpx.get(url, timeout=timeout).status_code < 500
    except httpx.HTTPError:
        return False
