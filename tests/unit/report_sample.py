"""A RunReport as a latency-injection run would produce it (for the report tests)."""

from __future__ import annotations

import math

from chaosctl.report.model import RunReport
from chaosctl.verdict.model import BottleneckRow, Check, PhaseWindow, Series

T0 = 1_790_000_000.0


def _series(name: str, fn) -> Series:
    return Series(name, tuple((T0 + t, fn(t)) for t in range(0, 120, 2)))


def sample_report() -> RunReport:
    phases = (
        PhaseWindow("baseline", T0, T0 + 30),
        PhaseWindow("fault", T0 + 30, T0 + 90, ("latency link:gateway->model-gpu-1",)),
        PhaseWindow("recovery", T0 + 90, T0 + 120),
    )
    checks = (
        Check("steady_state", "gateway healthy", "before", "pass", "200", "200"),
        Check("slo", "fault p99", "fault", "fail", "612 ms", "< 300ms", "612 ms is not < 300 ms"),
        Check("slo", "availability", "baseline", "pass", "100.00%", ">= 99.50%"),
        Check("slo", "availability", "fault", "fail", "no data", ">= 99.50%", "NaN over phase 'fault': no requests in the window (0/0)"),
        Check("trace", "bottleneck is gateway: upstream model-gpu-1", "fault", "pass", "gateway: upstream model-gpu-1 (71%)", "bottleneck is gateway: upstream model-gpu-1"),
        Check("abort", "error_ratio > 50% for 5s", "fault", "pass", "max 2.00%", "error_ratio <= 50%"),
    )
    base_rows = (
        BottleneckRow("model-gpu-1", "POST /v1/models/{model}/predict", 0.55, 22.0, 20.0, 41.0, 45.0, 900),
        BottleneckRow("gateway", "upstream model-gpu-1", 0.12, 4.8, 2.0, 6.0, 50.0, 900),
        BottleneckRow("gateway", "registry lookup", 0.08, 3.2, 3.0, 9.0, 10.0, 900),
    )
    fault_rows = (
        BottleneckRow("gateway", "upstream model-gpu-1", 0.71, 280.0, 200.0, 260.0, 460.0, 1500, 12, 0.59, 410.0),
        BottleneckRow("model-gpu-1", "POST /v1/models/{model}/predict", 0.2, 21.0, 19.0, 40.0, 44.0, 1500, 0, -0.35, -1.0),
        BottleneckRow("registry", "GET /v1/services", 0.02, 1.0, 0.8, 2.0, 3.0, 40, 0, None, None),
    )
    series = (
        _series("latency_p50", lambda t: 0.03 if t < 30 or t >= 90 else 0.23),
        _series("latency_p99", lambda t: 0.05 if t < 30 or t >= 90 else 0.6),
        _series("error_ratio", lambda t: math.nan if t == 60 else (0.0 if t < 30 else 0.02)),
    )
    return RunReport(
        scenario="latency-injection",
        verdict="fail",
        started=T0,
        ended=T0 + 120,
        phases=phases,
        checks=checks,
        bottlenecks={"baseline": base_rows, "fault": fault_rows},
        findings=("under latency on link:gateway->model-gpu-1 the gateway's `upstream model-gpu-1` went from 12% to 71% of the critical path; p99 +410 ms",),
        series=series,
        notes=("load generator CPU peaked at 41%",),
    )
