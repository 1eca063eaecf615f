"""The load plan handed to the shipped locustfile as a JSON file (plain data).

Kept free of Locust imports: the run builds it, the locustfile reads it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Input widths of the reference models (chaosctl.services.modelserver trains them at start-up).
INPUT_WIDTHS: dict[str, int] = {"fraud-detector": 20, "image-classifier": 64}
DEFAULT_WIDTH = 20


@dataclass(frozen=True)
class RequestMix:
    model: str
    weight: float = 1.0
    version: str | None = None  # sent as X-Model-Version (exact or range)
    batch: int = 1  # rows per request
    width: int = 0  # features per row; 0 = the model's known width

    @property
    def features(self) -> int:
        return self.width or INPUT_WIDTHS.get(self.model, DEFAULT_WIDTH)


@dataclass(frozen=True)
class ShapeStage:
    """Cumulative stage: until `end_s` seconds after start, run `users` at `spawn_rate`."""

    end_s: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class LoadPlan:
    users: int
    spawn_rate: float
    requests: tuple[RequestMix, ...]
    workers: int = 1
    wait_min_s: float = 0.2  # think time per user between requests
    wait_max_s: float = 0.5
    stages: tuple[ShapeStage, ...] = ()  # empty: constant `users`
    subject: str = "chaosctl-load"
    token_ttl_s: float = 6 * 3600.0
    # The load's token carries its own generous rate-limit plan so that load is
    # limited by the scenario's users, not by the gateway's default client plan.
    rate_per_s: float = 100000.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2))
        return path

    @classmethod
    def read(cls, path: Path) -> "LoadPlan":
        raw = json.loads(Path(path).read_text())
        raw["requests"] = tuple(RequestMix(**r) for r in raw.get("requests", ()))
        raw["stages"] = tuple(ShapeStage(**s) for s in raw.get("stages", ()))
        return cls(**raw)
