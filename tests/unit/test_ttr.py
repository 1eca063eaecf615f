"""Time to recovery on hand-built series (verdict.ttr)."""

from __future__ import annotations

import math

from chaosctl.verdict.ttr import baseline_band, time_to_recovery

BASE = [(t, 0.05) for t in range(0, 10)]
BAND = baseline_band("latency_p99", BASE, 0, 10, tolerance=0.5)  # <= 0.075


def _series(values, t0=20.0):
    return [(t0 + i, v) for i, v in enumerate(values)]


def test_band_directions_and_slack():
    assert math.isclose(BAND.bound, 0.075) and not BAND.higher_is_better
    ok = baseline_band("success_ratio", [(0, 1.0)], 0, 1, tolerance=0.0)
    assert ok.higher_is_better and math.isclose(ok.bound, 0.99)
    assert math.isclose(baseline_band("error_ratio", [(0, 0.0)], 0, 1).bound, 0.01)
    assert baseline_band("latency_p99", [(0, math.nan)], 0, 1) is None  # no baseline


def test_recovers_at_once():
    r = time_to_recovery(_series([0.05] * 10), BAND, reverted_at=20.0, end=30.0, hold_s=3)
    assert r.seconds == 0.0


def test_recovers_after_a_few_seconds():
    r = time_to_recovery(_series([0.3, 0.3, 0.2, 0.06, 0.05, 0.05, 0.05, 0.05]), BAND, 19.5, 30.0, hold_s=3)
    assert r.seconds == 3.5


def test_never_recovers():
    r = time_to_recovery(_series([0.3] * 10), BAND, 20.0, 30.0, hold_s=3)
    assert r.seconds is None and r.reason.startswith("not recovered within 10 s")


def test_flapping_inside_the_hold_restarts_it():
    values = [0.05, 0.05, 0.3, 0.05, 0.05, 0.2, 0.05, 0.05, 0.05, 0.05]
    assert time_to_recovery(_series(values), BAND, 20.0, 30.0, hold_s=3).seconds == 6.0
    r = time_to_recovery(_series(values[:8]), BAND, 20.0, 28.0, hold_s=3)
    assert r.seconds is None and "at most 1 s of the 3 s hold" in r.reason  # the phase ended inside the hold


def test_a_gap_is_not_in_band():
    pts = [(20.0, 0.05), (21.0, 0.05), (25.0, 0.05), (26.0, 0.05), (27.0, 0.05), (28.0, 0.05)]
    assert time_to_recovery(pts, BAND, 20.0, 30.0, hold_s=3).seconds == 5.0
    holed = [(20.0, 0.05), (22.0, 0.05), (24.0, 0.05), (26.0, 0.05)]  # every other point missing
    assert time_to_recovery(holed, BAND, 20.0, 30.0, hold_s=3).seconds is None


def test_no_data_after_the_revert_and_nan():
    assert "no data" in time_to_recovery([(5.0, 0.05)], BAND, 20.0, 30.0).reason
    nan = time_to_recovery(_series([math.nan] * 10), BAND, 20.0, 30.0)
    assert nan.seconds is None and "no data" in nan.reason
