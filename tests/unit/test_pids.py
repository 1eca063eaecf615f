"""One pid-identity rule: a recorded create time one second off (the /proc/stat btime flip) is
still our process; one that started seconds apart is another process and is never signalled."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from chaosctl.faults import pidcheck
from chaosctl.pids import same_start
from chaosctl.stack import procs


def test_same_start_absorbs_the_one_second_btime_flip_but_not_a_later_process() -> None:
    assert same_start(1000.00, 1000.00)
    assert same_start(1001.00, 1000.02)  # btime re-read one second higher
    assert same_start(999.01, 1000.00)
    assert not same_start(1003.00, 1000.00)  # a reused pid: another start


@pytest.fixture
def child(tmp_path: Path):
    rec = procs.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log")
    try:
        yield rec
    finally:
        procs.stop([rec], timeout=5.0)


def test_every_pid_check_keeps_a_live_child_whose_recorded_time_is_a_second_off(child) -> None:
    created = psutil.Process(child.pid).create_time()
    for drift in (-1.0, 1.0):
        shifted = replace(child, create_time=created + drift)
        assert procs.process(shifted) is not None, drift  # was None: `down` then left it running
        assert pidcheck.alive(child.pid, created + drift)


def test_a_record_from_another_start_is_not_our_process(child) -> None:
    stranger = replace(child, create_time=psutil.Process(child.pid).create_time() - 30.0)
    assert procs.process(stranger) is None
    assert not pidcheck.alive(child.pid, stranger.create_time)
    assert procs.process(child) is not None  # the real record is still found
