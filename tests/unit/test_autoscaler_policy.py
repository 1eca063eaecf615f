"""The autoscaler's decision (services/autoscaler/policy.py): pure function of loads, bounds and time."""

from __future__ import annotations

import pytest

from chaosctl.services.autoscaler.policy import Bounds, PoolPolicy, PoolView, ServerLoad, decide

POLICY = PoolPolicy(bounds=Bounds(0, 2), queue_high=4, hot_share=0.5, up_cooldown_s=10, down_cooldown_s=30)


def view(*loads: ServerLoad, replicas: int = 0, warming: int = 0, last: float | None = None,
         idle_since: float | None = 0.0) -> PoolView:
    return PoolView("gpu", tuple(loads), replicas, warming, last, idle_since)


def test_scales_up_on_queue_depth() -> None:
    d = decide(view(ServerLoad("a", queue_depth=6), ServerLoad("b", queue_depth=3)), POLICY, now=100)
    assert (d.action, d.cause, d.desired) == ("up", "queue_depth", 1)
    assert "queue depth 4.5" in d.reason


def test_scales_up_when_servers_are_saturated_or_unreachable() -> None:
    d = decide(view(ServerLoad("a", health="saturated"), ServerLoad("b", reachable=False)), POLICY, now=100)
    assert (d.action, d.cause) == ("up", "saturated")
    assert "a, b" in d.reason


def test_scales_up_on_device_utilisation() -> None:
    d = decide(view(ServerLoad("a", utilization=0.9), ServerLoad("b", utilization=0.95)), POLICY, now=100)
    assert (d.action, d.cause) == ("up", "utilization")


def test_holds_at_max_and_goes_back_inside_bounds() -> None:
    hot = ServerLoad("a", queue_depth=50)
    assert decide(view(hot, replicas=2), POLICY, now=100).action == "hold"
    assert "at max" in decide(view(hot, replicas=2), POLICY, now=100).reason
    assert decide(view(hot, replicas=3), POLICY, now=100).action == "down"  # max lowered by an admin
    below = decide(view(ServerLoad("a"), replicas=0), PoolPolicy(bounds=Bounds(1, 2)), now=0)
    assert (below.action, below.cause) == ("up", "below_min")
    with pytest.raises(ValueError):
        Bounds(3, 2)


def test_scale_up_cooldown_counts_from_the_last_event() -> None:
    hot = ServerLoad("a", queue_depth=50)
    inside = decide(view(hot, replicas=1, last=95.0), POLICY, now=100.0)
    assert inside.action == "hold" and "scale-up cooldown" in inside.reason
    assert decide(view(hot, replicas=1, last=89.0), POLICY, now=100.0).action == "up"


def test_no_second_scale_up_while_a_replica_warms() -> None:
    d = decide(view(ServerLoad("a", queue_depth=50), replicas=1, warming=1), POLICY, now=1000)
    assert d.action == "hold" and "warming" in d.reason


def test_scales_down_only_when_every_server_is_idle_and_after_the_cooldown() -> None:
    idle = (ServerLoad("a"), ServerLoad("b"))
    assert decide(view(*idle, replicas=1, last=80.0), POLICY, now=100.0).action == "hold"  # 20 s < 30 s
    d = decide(view(*idle, replicas=1, last=60.0), POLICY, now=100.0)
    assert (d.action, d.cause, d.desired) == ("down", "idle", 0)
    busy = (ServerLoad("a", queue_depth=2), ServerLoad("b"))
    assert decide(view(*busy, replicas=1, last=0.0), POLICY, now=100.0).action == "hold"
    assert decide(view(*idle, replicas=0), POLICY, now=100.0).action == "hold"  # at min


def test_scales_down_only_after_idle_held_for_the_stabilization_window() -> None:
    idle = (ServerLoad("a"), ServerLoad("b"))
    # One idle reading (a phase boundary's revert and re-inject, ~0.1 s) must not remove a replica.
    first = decide(view(*idle, replicas=1, last=0.0, idle_since=100.0), POLICY, now=100.0)
    assert first.action == "hold" and "idle for 0.0 of 10 s" in first.reason
    assert decide(view(*idle, replicas=1, last=0.0, idle_since=None), POLICY, now=100.0).action == "hold"
    assert decide(view(*idle, replicas=1, last=0.0, idle_since=91.0), POLICY, now=100.0).action == "hold"
    d = decide(view(*idle, replicas=1, last=0.0, idle_since=90.0), POLICY, now=100.0)
    assert (d.action, d.cause, d.desired) == ("down", "idle", 0)


def test_by_default_one_full_server_is_routed_around_not_scaled_for() -> None:
    loads = (ServerLoad("a", health="saturated"), ServerLoad("b", health="saturated"), ServerLoad("c"))
    assert decide(view(*loads), PoolPolicy(), now=100).action == "hold"
    d = decide(view(*loads[:2], ServerLoad("c", reachable=False)), PoolPolicy(), now=100)
    assert (d.action, d.cause) == ("up", "saturated")
