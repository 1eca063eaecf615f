"""`wait_until` on a fake clock: when it checks, how long it sleeps, what it returns on time-out;
`http_answers` against a real local HTTP server; the local backend's waits on its own clock."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chaosctl.errors import StackUnavailable
from chaosctl.settings import Settings
from chaosctl.stack.local import LocalBackend
from chaosctl.stack.topology import Topology
from chaosctl.waiting import http_answers, wait_until


class FakeClock:
    """Time that moves only when somebody sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "never sleep zero or less"
        self.sleeps.append(seconds)
        self.now += seconds


def _checks(clock: FakeClock, values: list[object]):
    """A check answering `values` in turn, recording the (fake) time of each call."""
    seen: list[float] = []

    def check() -> object:
        seen.append(clock.now - 1000.0)
        return values[len(seen) - 1] if len(seen) <= len(values) else values[-1]

    return check, seen


def test_a_condition_that_holds_at_once_returns_without_sleeping():
    clock = FakeClock()
    check, seen = _checks(clock, ["ready"])
    assert wait_until(check, 10.0, clock=clock, sleep=clock.sleep) == "ready"
    assert seen == [0.0] and clock.sleeps == []


def test_polls_at_the_interval_until_the_condition_holds():
    clock = FakeClock()
    check, seen = _checks(clock, [False, None, 0, 7])
    assert wait_until(check, 10.0, interval=0.5, clock=clock, sleep=clock.sleep) == 7
    assert seen == [0.0, 0.5, 1.0, 1.5]


def test_on_time_out_returns_the_last_value_after_a_last_check_at_the_deadline():
    clock = FakeClock()
    check, seen = _checks(clock, [[1, 2], [3]])
    assert wait_until(check, 1.0, interval=0.4, done=lambda left: not left, clock=clock, sleep=clock.sleep) == [3]
    assert seen == pytest.approx([0.0, 0.4, 0.8, 1.0])  # the last sleep is cut to end at the deadline
    assert sum(clock.sleeps) == pytest.approx(1.0)


def test_a_condition_that_holds_exactly_at_the_deadline_is_not_a_time_out():
    clock = FakeClock()
    check, _ = _checks(clock, [False, False, True])
    assert wait_until(check, 2.0, interval=1.0, clock=clock, sleep=clock.sleep) is True


def test_a_zero_timeout_checks_once():
    clock = FakeClock()
    check, seen = _checks(clock, [False])
    assert wait_until(check, 0.0, clock=clock, sleep=clock.sleep) is False
    assert seen == [0.0] and clock.sleeps == []


def test_an_exception_in_the_check_propagates_at_once():
    clock = FakeClock()

    def check() -> bool:
        raise StackUnavailable("gateway exited")

    with pytest.raises(StackUnavailable, match="gateway exited"):
        wait_until(check, 30.0, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


class _Status(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(int(self.path.strip("/")))
        self.end_headers()

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture
def status_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_http_answers_is_true_below_500_and_false_for_5xx_or_no_answer(status_server):
    assert http_answers(f"{status_server}/200") and http_answers(f"{status_server}/404")
    assert not http_answers(f"{status_server}/503")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connection refused
        assert not http_answers(f"http://127.0.0.1:{sock.getsockname()[1]}/")


def test_up_waits_out_a_busy_port_on_the_backends_clock(tmp_path: Path):
    """The 5 s grace for a port that a killed process may still hold passes on the backend's
    clock: with a fake one, `up` refuses the busy port without waiting in real time."""
    base = 21700
    port = Topology(base).etcd_peer_port(1)
    clock = FakeClock()
    backend = LocalBackend(Settings(state_dir=tmp_path / "state", port_base=base), clock=clock, sleep=clock.sleep)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        began = time.monotonic()
        with pytest.raises(StackUnavailable, match=rf"port {port} \(registry-store\[1\]\) is in use"):
            backend.up()
    assert sum(clock.sleeps) == pytest.approx(5.0)
    assert time.monotonic() - began < 4.0  # far less than the grace: the wait was on the fake clock


def _steady(values: list[float | None]):
    """A PromQL probe `up > 0` and a query answering `values` in turn (the last one from then on)."""
    from chaosctl.scenario.model import PromqlProbe

    probe = PromqlProbe(name="gateway up", probe="promql", query="up", condition="> 0")
    asked: list[float] = []

    def query(expr: str, at: float) -> float | None:
        asked.append(at)
        return values[min(len(asked), len(values)) - 1]

    return probe, query, asked


def test_steady_state_probes_wait_on_the_given_clock_until_they_hold():
    from chaosctl.runner.steady import check_steady_state

    probe, query, asked = _steady([0.0, 0.0, 1.0])
    clock = FakeClock()
    checks = check_steady_state([probe], "after", Topology(21700), query, 30.0, sleep=clock.sleep, clock=clock)
    assert [c.status for c in checks] == ["pass"] and len(asked) == 3
    assert clock.sleeps == [0.5, 0.5]


def test_steady_state_that_never_holds_fails_after_its_wait_with_the_last_observation():
    from chaosctl.runner.steady import check_steady_state

    probe, query, asked = _steady([0.0])
    clock = FakeClock()
    checks = check_steady_state([probe], "before", Topology(21700), query, 3.0, sleep=clock.sleep, clock=clock)
    assert [(c.status, c.observed) for c in checks] == [("fail", "0")]
    assert "waited 3s" in checks[0].reason and sum(clock.sleeps) == pytest.approx(3.0) and len(asked) == 7
