"""The latency histogram buckets of chaosctl_http_request_duration_seconds (docs/contracts.md).

Its own module, with no imports: the services emit with these buckets and `validate` checks a
scenario's latency thresholds against them, so validate reads them without loading the services'
telemetry (and `logging` with it).
"""

HTTP_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip
