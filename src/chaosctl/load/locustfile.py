"""The locustfile shipped with chaosctl: one user type that calls the gateway's
predict route with the scenario's request mix.

Configuration comes from the environment (set by chaosctl.load.locust_run):
  CHAOSCTL_LOAD_PLAN   path of the LoadPlan JSON (request mix, think time, shape)
  CHAOSCTL_JWT_SECRET  the gateway's JWT secret; each user mints its own token
"""

from __future__ import annotations

import os
import random

import locust.stats
from locust import HttpUser, LoadTestShape, between, events, task

from chaosctl.load.plan import GATE_FILE, LoadPlan, PlannedRequest
from chaosctl.settings import LOAD_PLAN_ENV, SECRET_ENV

# The run watches the stats history CSV to know when the users run; Locust flushes
# it every 5 s by default, which would add up to 5 s to every run's start.
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1

PLAN = LoadPlan.read(os.environ[LOAD_PLAN_ENV])
_WEIGHTS = [r.weight for r in PLAN.requests]
# Beside the plan, written once every user of a ramp is spawned (Locust's spawning_complete) and a
# request has come back: the run starts its first phase on it at once, not on the next CSV flush.
SPAWNED_PATH = os.path.join(os.path.dirname(os.environ[LOAD_PLAN_ENV]), "spawned.json")
_spawn = {"users": -1, "requests": 0, "local": 0}
GATE_PATH = os.path.join(os.path.dirname(os.environ[LOAD_PLAN_ENV]), GATE_FILE)
GATE_POLL_S = 0.02
_gate: dict[str, object] = {"open": False, "event": None}


@events.init.add_listener
def _on_init(environment: "locust.env.Environment", **_: object) -> None:
    from locust.runners import LocalRunner

    # one process only: a master sees its workers' requests in their reports, every few seconds,
    # so a distributed run waits on the stats history CSV (LocustRun.wait_spawned)
    _spawn["local"] = int(isinstance(environment.runner, LocalRunner))


@events.spawning_complete.add_listener
def _on_spawned(user_count: int, **_: object) -> None:
    _spawn["users"] = user_count
    _write_spawned()


@events.request.add_listener
def _on_request(**_: object) -> None:
    if not _spawn["requests"]:
        _spawn["requests"] = 1
        _write_spawned()


def _write_spawned() -> None:
    if _spawn["local"] and _spawn["users"] >= 0 and _spawn["requests"]:
        tmp = SPAWNED_PATH + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(f'{{"users": {_spawn["users"]}}}')
        os.replace(tmp, SPAWNED_PATH)  # whole or absent for the reader


def _await_gate() -> None:
    """Until the run opens the gate (LocustRun.open_gate): Locust starts and its users spawn while
    the run's pre-flight and steady-state checks go on, but no request goes out before they pass.
    One poller per process; a user that waited then sleeps a random part of its think time, so
    the load arrives as it will run, not as one burst."""
    if _gate["open"] or os.path.exists(GATE_PATH):
        _gate["open"] = True
        return
    import gevent
    from gevent.event import Event

    if _gate["event"] is None:
        _gate["event"] = Event()
        gevent.spawn(_poll_gate, _gate["event"])
    _gate["event"].wait()  # type: ignore[attr-defined]
    gevent.sleep(random.uniform(0.0, PLAN.wait_max_s))


def _poll_gate(opened: "object") -> None:
    import gevent

    while not os.path.exists(GATE_PATH):
        gevent.sleep(GATE_POLL_S)
    _gate["open"] = True
    opened.set()  # type: ignore[attr-defined]


def _token() -> str:
    from chaosctl.services.gateway.auth import mint_token  # lazy: the gateway's module, not needed at import

    secret = os.environ.get(SECRET_ENV["jwt_secret"], "")
    return mint_token(secret, subject=PLAN.subject, ttl_s=PLAN.token_ttl_s, rate_per_s=PLAN.rate_per_s,
                      burst=PLAN.rate_per_s)


class ModelUser(HttpUser):
    wait_time = between(PLAN.wait_min_s, PLAN.wait_max_s)
    abstract = bool(PLAN.templates)  # a System's request templates run as TemplateUser instead

    def on_start(self) -> None:
        self.auth = f"Bearer {_token()}"
        _await_gate()

    @task
    def predict(self) -> None:
        req = random.choices(PLAN.requests, weights=_WEIGHTS)[0]
        headers = {"Authorization": self.auth}
        if req.version:
            headers["X-Model-Version"] = req.version
        inputs = _inputs(req)
        with self.client.post(f"/v1/models/{req.model}/predict", json={"inputs": inputs}, headers=headers,
                              name=f"predict {req.model}", catch_response=True) as resp:
            if resp.status_code == 429:
                # The gateway enforcing a quota is not a failure (the SLIs count 5xx only); anything
                # else >= 400 and every connection error stays one: the run's client view counts them.
                resp.success()


def _inputs(req: PlannedRequest) -> list[list[float]]:
    """New rows, or with `distinct_inputs` one of a fixed pool (the same rows in every load
    process: seeded by model and pool index), so the gateway's prediction cache can answer repeats."""
    rng: random.Random = random  # type: ignore[assignment]
    if req.distinct_inputs:
        rng = random.Random(f"{req.model}:{req.batch}:{random.randrange(req.distinct_inputs)}")
    return [[rng.uniform(-1.0, 1.0) for _ in range(req.features)] for _ in range(req.batch)]


def _auth_value() -> str | None:
    """A System's auth header value: minted, or read from its environment variable (never the plan file)."""
    if PLAN.auth_mint:
        return PLAN.auth_prefix + _token()
    if PLAN.auth_env:
        return PLAN.auth_prefix + os.environ.get(PLAN.auth_env, "")
    return None


class TemplateUser(HttpUser):
    """A System's request templates (method, path, headers, JSON body), picked by weight."""

    wait_time = between(PLAN.wait_min_s, PLAN.wait_max_s)
    abstract = not PLAN.templates

    def on_start(self) -> None:
        self.auth = _auth_value()
        self.weights = [float(t["weight"]) for t in PLAN.templates]
        _await_gate()

    @task
    def call(self) -> None:
        t = random.choices(PLAN.templates, weights=self.weights)[0]
        headers = dict(t["headers"])
        if self.auth is not None:
            headers[PLAN.auth_header] = self.auth
        self.client.request(t["method"], t["path"], headers=headers, json=t["json"], name=t["name"])


if PLAN.stages:  # Locust uses a shape class when the locustfile defines one

    class PlanShape(LoadTestShape):
        def tick(self) -> tuple[int, float] | None:
            elapsed = self.get_run_time()
            for stage in PLAN.stages:
                if elapsed < stage.end_s:
                    return stage.users, stage.spawn_rate
            last = PLAN.stages[-1]
            return last.users, last.spawn_rate  # hold the last stage; the run stops Locust itself
