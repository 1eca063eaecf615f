"""Progressive canary: move a new version's traffic weight in steps, roll it back on a breach.

A rollout of `model` from `stable` to `canary` starts at the first step's weight
(default 5%) and moves to the next (25, 50, 100%) once `step_interval_s` has passed
at the current step AND the canary's last `window_s` of answers are healthy relative
to the stable version's: at least `min_samples` canary answers (too little data is
never healthy: the rollout holds), an error ratio (5xx) at most `max_error_ratio_delta`
above stable's, and a p90 latency at most `max_latency_ratio` x stable's p90 plus
`latency_slack_s`.

Latency is judged as an SRE reads it, not on noise: over the sliding window (not all time),
only once each version has `latency_min_samples` successful answers there (default 20: the
p90 of n answers is the int(0.9 n)-th smallest, so at 10 answers it is their maximum and one
slow answer would decide; at 20 one outlier is tolerated), and without the canary's answers
in its first `latency_warmup_s` after the start (a cold process's first answers: lazy loads,
empty pools; as Kayenta's warm-up). Errors are never left out. Until latency can be judged
the rollout holds: it never steps up on a bound it could not check (as Flagger halts on a
metric with no data). Reaching 100% at a healthy step promotes it. A broken bound with `rollback_min_samples`
canary answers rolls it back at once: weight 0, state `rolled_back`, the reason kept;
nothing moves it afterwards but a new start. With `auto_rollback` off (a deliberately
broken deployment system) a breach is only recorded and the rollout holds where it is.

The controller is pure (an injected clock, no I/O): the gateway feeds it every routed
answer of a model under rollout and records the transitions it returns (metrics, a
span event on the request that saw it, a Grafana annotation).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chaosctl.services.gateway.routing import CanaryRule

State = Literal["progressing", "promoted", "rolled_back"]
Kind = Literal["step", "promoted", "rollback", "breach"]
REASONS = ("error_ratio", "latency")
ADMIN_PREFIX = "/admin/rollouts"
EVAL_INTERVAL_S = 0.25  # judge at most this often: the window is sorted on each judgement


class RolloutPolicy(BaseModel):
    """How a rollout moves and what it tolerates (the admin API's body without the versions)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: tuple[float, ...] = Field((0.05, 0.25, 0.5, 1.0), min_length=1, description="canary weights, rising, last 1.0")
    step_interval_s: float = Field(30.0, gt=0, le=86400, description="least time at a step before the next")
    window_s: float = Field(30.0, gt=0, le=3600, description="sliding window the health is judged on")
    min_samples: int = Field(20, ge=1, description="canary answers in the window needed to step up")
    rollback_min_samples: int = Field(5, ge=1, description="canary answers in the window needed to roll back")
    max_error_ratio_delta: float = Field(0.05, ge=0, le=1, description="canary 5xx ratio may exceed stable's by this")
    max_latency_ratio: float = Field(2.0, ge=1, le=100, description="canary p90 at most this x stable's p90 (+ slack)")
    latency_slack_s: float = Field(0.05, ge=0, le=60, description="absolute slack on the latency bound")
    latency_min_samples: int = Field(20, ge=10, le=100000,
                                     description="successful answers of each version in the window to judge latency")
    latency_warmup_s: float = Field(0.0, ge=0, le=3600,
                                    description="canary answers this long after the start are not judged on latency")
    auto_rollback: bool = Field(True, description="false: a breach is recorded and the rollout holds (no rollback)")

    @field_validator("steps")
    @classmethod
    def _rising_to_one(cls, steps: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < s <= 1 for s in steps) or list(steps) != sorted(set(steps)) or steps[-1] != 1.0:
            raise ValueError("steps must be distinct weights in (0, 1], rising, the last 1.0 (e.g. [0.05, 0.25, 0.5, 1])")
        return steps


class RolloutStart(RolloutPolicy):
    """PUT /admin/rollouts/{model}: the versions and, optionally, the policy."""

    stable: str = Field(min_length=1, max_length=64)
    canary: str = Field(min_length=1, max_length=64)


@dataclass(frozen=True)
class Sample:
    at: float
    error: bool
    latency_s: float


@dataclass(frozen=True)
class Health:
    canary_n: int
    stable_n: int
    canary_error_ratio: float
    stable_error_ratio: float
    canary_p90_s: float | None
    stable_p90_s: float | None
    canary_latency_n: int = 0  # the successful answers the p90s are of (the canary's after its warm-up)
    stable_latency_n: int = 0


@dataclass(frozen=True)
class Transition:
    """A step, the promotion, a rollback, or a breach left standing (auto_rollback off)."""

    kind: Kind
    model: str
    version: str
    from_weight: float
    to_weight: float
    at: float
    reason: str = ""
    detail: str = ""
    reaction_s: float | None = None  # rollback: seconds since the first bad canary answer in the window

    def attributes(self) -> dict[str, str | float]:
        out: dict[str, str | float] = {"canary.model": self.model, "canary.version": self.version,
                                       "canary.from_weight": self.from_weight, "canary.to_weight": self.to_weight}  # fmt: skip
        if self.reason:
            out |= {"canary.reason": self.reason, "canary.detail": self.detail}
        return out


def p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


@dataclass
class Rollout:
    model: str
    stable: str
    canary: str
    policy: RolloutPolicy
    started_at: float
    step: int = 0
    step_since: float = 0.0
    state: State = "progressing"
    reason: str = ""
    detail: str = ""
    breach: str = ""
    history: list[Transition] = field(default_factory=list)
    _samples: dict[str, deque[Sample]] = field(default_factory=dict)
    _judged_at: float = float("-inf")

    @property
    def weight(self) -> float:
        return {"promoted": 1.0, "rolled_back": 0.0}.get(self.state, self.policy.steps[self.step])

    def rule(self) -> CanaryRule:
        return CanaryRule(self.model, self.stable, self.canary, self.weight)

    def observe(self, version: str, status: int, latency_s: float, now: float) -> Transition | None:
        if version not in (self.stable, self.canary) or self.state != "progressing":
            return None  # a finished rollout keeps no samples (nothing would trim them)
        window = self._samples.setdefault(version, deque())
        window.append(Sample(now, status >= 500, latency_s))
        if now - self._judged_at < EVAL_INTERVAL_S:
            return None
        self._judged_at = now
        return self.judge(now)

    def health(self, now: float) -> Health:
        c, s = self._window(self.canary, now), self._window(self.stable, now)
        c_lat, s_lat = [x.latency_s for x in c if self._judged_on_latency(x)], [x.latency_s for x in s if not x.error]
        return Health(len(c), len(s), _ratio(c), _ratio(s), p90(c_lat), p90(s_lat), len(c_lat), len(s_lat))

    def _judged_on_latency(self, canary_sample: Sample) -> bool:
        """A successful canary answer after the warm-up (errors count in the error ratio only)."""
        return not canary_sample.error and canary_sample.at >= self.started_at + self.policy.latency_warmup_s

    def _latency_judged(self, h: Health) -> bool:
        return min(h.canary_latency_n, h.stable_latency_n) >= self.policy.latency_min_samples

    def judge(self, now: float) -> Transition | None:
        """The transition due at `now`, applied (None: hold)."""
        h, p = self.health(now), self.policy
        broken = self._broken(h) if h.canary_n >= p.rollback_min_samples else None
        if broken is not None:
            reason, detail = broken
            if p.auto_rollback:
                return self._roll_back(reason, detail, now)
            if self.breach != reason:  # recorded once per onset, not on every judgement
                self.breach = reason
                return self._record(Transition("breach", self.model, self.canary, self.weight, self.weight, now, reason,
                                               f"{detail} (automatic rollback is off)"))  # fmt: skip
            return None
        self.breach = ""
        if now - self.step_since < p.step_interval_s or not self._enough(h):
            return None
        before = self.weight
        if self.step + 1 >= len(p.steps):
            self.state = "promoted"
            return self._record(Transition("promoted", self.model, self.canary, before, 1.0, now))
        self.step, self.step_since = self.step + 1, now
        return self._record(Transition("step", self.model, self.canary, before, self.weight, now))

    def _enough(self, h: Health) -> bool:
        n = self.policy.min_samples
        return h.canary_n >= n and h.stable_n >= n and self._latency_judged(h)

    def _broken(self, h: Health) -> tuple[str, str] | None:
        p = self.policy
        if h.canary_error_ratio > h.stable_error_ratio + p.max_error_ratio_delta:
            return "error_ratio", (f"canary {self.canary} 5xx ratio {h.canary_error_ratio:.1%} over {h.canary_n} answers > "
                                   f"stable {h.stable_error_ratio:.1%} + {p.max_error_ratio_delta:.1%}")  # fmt: skip
        if h.canary_p90_s is None or h.stable_p90_s is None or not self._latency_judged(h):
            return None  # a p90 of too few answers is about their maximum: noise, not a verdict
        bound = h.stable_p90_s * p.max_latency_ratio + p.latency_slack_s
        if h.canary_p90_s > bound:
            return "latency", (f"canary {self.canary} p90 {h.canary_p90_s * 1000:.0f}ms over {h.canary_latency_n} answers > "
                               f"{p.max_latency_ratio:g}x stable p90 {h.stable_p90_s * 1000:.0f}ms + "
                               f"{p.latency_slack_s * 1000:.0f}ms")  # fmt: skip
        return None

    def _roll_back(self, reason: str, detail: str, now: float) -> Transition:
        before = self.weight
        self.state, self.reason, self.detail = "rolled_back", reason, detail
        bad = [x for x in self._window(self.canary, now) if self._bad(x, reason)]
        reaction = now - bad[0].at if bad else None
        return self._record(Transition("rollback", self.model, self.canary, before, 0.0, now, reason, detail, reaction))

    def _bad(self, sample: Sample, reason: str) -> bool:
        if reason == "error_ratio":
            return sample.error
        if not self._judged_on_latency(sample):
            return False
        stable = p90([x.latency_s for x in self._window(self.stable, sample.at) if not x.error]) or 0.0
        return sample.latency_s > stable * self.policy.max_latency_ratio + self.policy.latency_slack_s

    def _window(self, version: str, now: float) -> list[Sample]:
        window = self._samples.get(version, deque())
        while window and window[0].at < now - self.policy.window_s:
            window.popleft()
        return list(window)

    def _record(self, t: Transition) -> Transition:
        self.history.append(t)
        return t

    def status(self, now: float, wall_now: float | None = None) -> dict[str, object]:
        """As the admin API shows it; with `wall_now`, each history entry gets its epoch time (`wall`)."""
        h = self.health(now)
        history = [{**t.__dict__, **({"wall": wall_now - (now - t.at)} if wall_now is not None else {})}
                   for t in self.history]  # fmt: skip
        return {
            "model": self.model, "stable": self.stable, "canary": self.canary, "state": self.state,
            "weight": self.weight, "step": self.step, "steps": list(self.policy.steps), "reason": self.reason,
            "detail": self.detail, "breach": self.breach, "policy": self.policy.model_dump(),
            "health": h.__dict__, "history": history,
        }  # fmt: skip


def _ratio(samples: list[Sample]) -> float:
    return sum(x.error for x in samples) / len(samples) if samples else 0.0


class Rollouts:
    """The gateway's rollouts, one per model; the static canary rules stand where none runs."""

    def __init__(self, clock: Callable[[], float], static: Iterable[CanaryRule] = ()) -> None:
        self.clock = clock
        self.static = tuple(static)
        self._by_model: dict[str, Rollout] = {}

    def start(self, model: str, body: RolloutStart) -> tuple[Rollout, Transition]:
        """Start (or restart from its first step) the rollout of `model`; the opening transition."""
        now = self.clock()
        policy = RolloutPolicy(**body.model_dump(exclude={"stable", "canary"}))
        rollout = Rollout(model, body.stable, body.canary, policy, started_at=now, step_since=now)
        self._by_model[model] = rollout
        return rollout, rollout._record(Transition("step", model, body.canary, 0.0, rollout.weight, now))

    def cancel(self, model: str) -> Optional[Rollout]:
        return self._by_model.pop(model, None)

    def get(self, model: str) -> Optional[Rollout]:
        return self._by_model.get(model)

    def all(self) -> list[Rollout]:
        return list(self._by_model.values())

    def rules(self) -> tuple[CanaryRule, ...]:
        """The routing rules now: a rollout's weight replaces its model's static rule."""
        if not self._by_model:
            return self.static
        out = [self._by_model[r.model].rule() if r.model in self._by_model else r for r in self.static]
        seen = {r.model for r in out}
        return (*out, *(r.rule() for m, r in self._by_model.items() if m not in seen))

    def observe(self, model: str, version: str, status: int, latency_s: float) -> Transition | None:
        rollout = self._by_model.get(model)
        return None if rollout is None else rollout.observe(version, status, latency_s, self.clock())


STATE_VALUES = {"progressing": 1, "promoted": 2, "rolled_back": 3}
EVENT_NAMES = {"step": "canary step", "promoted": "canary promoted", "rollback": "canary rollback", "breach": "canary breach"}


class RolloutRecorder:
    """Makes every transition a metric, a span event on the current (request) span and,
    when the gateway knows a Grafana, an annotation posted off the request path."""

    def __init__(self, metrics: Any, annotator: Any | None = None, wall_clock: Callable[[], float] = time.time) -> None:
        self.metrics = metrics
        self.annotator = annotator  # observe.grafana.GrafanaAnnotator or None
        self.wall_clock = wall_clock
        self._pool: ThreadPoolExecutor | None = None

    def export_static(self, rules: Iterable[CanaryRule]) -> None:
        """Series at idle: the static rules' weights, zero steps and rollbacks (so rate() and panels work)."""
        for r in rules:
            self.metrics.canary_weight.labels(r.model, r.canary).set(r.canary_weight)
            self.metrics.canary_state.labels(r.model, r.canary).set(0)
            self.metrics.canary_steps.labels(r.model, r.canary)
            for reason in REASONS:
                self.metrics.canary_rollbacks.labels(r.model, r.canary, reason)
                self.metrics.canary_breaches.labels(r.model, r.canary, reason)

    def record(self, t: Transition, state: State) -> None:
        from opentelemetry import trace

        m = self.metrics
        m.canary_weight.labels(t.model, t.version).set(t.to_weight)
        m.canary_state.labels(t.model, t.version).set(STATE_VALUES[state])
        if t.kind in ("step", "promoted"):
            m.canary_steps.labels(t.model, t.version).inc()
        elif t.kind == "rollback":
            m.canary_rollbacks.labels(t.model, t.version, t.reason).inc()
            if t.reaction_s is not None:
                m.canary_rollback_reaction.labels(t.model, t.version).set(t.reaction_s)
        else:
            m.canary_breaches.labels(t.model, t.version, t.reason).inc()
        trace.get_current_span().add_event(EVENT_NAMES[t.kind], t.attributes())
        self._annotate(t)

    def _annotate(self, t: Transition) -> None:
        if self.annotator is None:
            return
        if self._pool is None:  # one worker: annotations go out in order, never on the event loop
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="canary-annotations")
        text = f"{t.model} {t.version}: {EVENT_NAMES[t.kind]} {t.from_weight:.0%} -> {t.to_weight:.0%}"
        text += f" ({t.reason}: {t.detail})" if t.reason else ""
        self._pool.submit(self.annotator.annotate, text, ("canary", t.kind, t.model), self.wall_clock())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self.annotator is not None:
            self.annotator.shutdown()


def admin_router(rollouts: Rollouts, recorder: RolloutRecorder, admin_token: str) -> Any:
    """`/admin/rollouts`: GET lists, GET/PUT/DELETE `/{model}` inspects, starts (or restarts), cancels."""
    from fastapi import APIRouter, Depends, HTTPException, Path

    from chaosctl.services.credential import require_admin_token

    router = APIRouter(prefix=ADMIN_PREFIX, dependencies=[Depends(require_admin_token(admin_token))],
                       include_in_schema=False)  # fmt: skip
    model_path = Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

    @router.get("")
    async def list_rollouts() -> dict[str, Any]:
        return {"rollouts": [r.status(rollouts.clock(), recorder.wall_clock()) for r in rollouts.all()]}

    @router.get("/{model}")
    async def get_rollout(model: str = model_path) -> dict[str, Any]:
        rollout = rollouts.get(model)
        if rollout is None:
            raise HTTPException(404, f"no rollout of {model!r}")
        return rollout.status(rollouts.clock(), recorder.wall_clock())

    @router.put("/{model}")
    async def start_rollout(body: RolloutStart, model: str = model_path) -> dict[str, Any]:
        if body.stable == body.canary:
            raise HTTPException(422, "stable and canary must be different versions")
        rollout, opening = rollouts.start(model, body)
        recorder.record(opening, rollout.state)
        return rollout.status(rollouts.clock(), recorder.wall_clock())

    @router.delete("/{model}")
    async def cancel_rollout(model: str = model_path) -> dict[str, Any]:
        rollout = rollouts.cancel(model)
        if rollout is not None:  # its model's static rule (if any) routes again; say so in the gauges
            recorder.metrics.canary_weight.labels(model, rollout.canary).set(0.0)
            recorder.metrics.canary_state.labels(model, rollout.canary).set(0)
            recorder.export_static(r for r in rollouts.static if r.model == model)
        return {"model": model, "cancelled": rollout is not None}

    return router
