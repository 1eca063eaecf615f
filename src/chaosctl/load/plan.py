"""The load plan handed to the shipped locustfile as a JSON file (plain data).

Kept free of Locust imports: the run builds it, the locustfile reads it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from chaosctl.system.model import SystemLoad

# Input widths of the reference models (chaosctl.services.modelserver trains them at start-up).
INPUT_WIDTHS: dict[str, int] = {"fraud-detector": 20, "image-classifier": 64, "fraud-pipeline": 20}
DEFAULT_WIDTH = 20
# Beside the plan file: while a gated load's gate file is absent its users spawn but send nothing
# (the locustfile's _await_gate); LocustRun.open_gate writes it.
GATE_FILE = "gate"


@dataclass(frozen=True)
class PlannedRequest:
    model: str
    weight: float = 1.0
    version: str | None = None  # sent as X-Model-Version (exact or range)
    batch: int = 1  # rows per request
    width: int = 0  # features per row; 0 = the model's known width
    distinct_inputs: int = 0  # > 0: inputs from a fixed pool of this many (cacheable repeats); 0: always new

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
    requests: tuple[PlannedRequest, ...]
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
    # A System's request templates ({name, method, path, headers, json, weight}); empty: the
    # reference gateway's predict route with `requests`.
    templates: tuple[dict[str, Any], ...] = ()
    # Every request's auth header: minted (the reference gateway's JWT) or the value of an
    # environment variable, read by the load process itself (the secret never enters this file).
    auth_header: str = "Authorization"
    auth_prefix: str = "Bearer "
    auth_env: str | None = None
    auth_mint: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2))
        return path

    @classmethod
    def read(cls, path: Path) -> "LoadPlan":
        raw = json.loads(Path(path).read_text())
        raw["requests"] = tuple(PlannedRequest(**r) for r in raw.get("requests", ()))
        raw["stages"] = tuple(ShapeStage(**s) for s in raw.get("stages", ()))
        raw["templates"] = tuple(raw.get("templates", ()))
        return cls(**raw)


def plan_from_system(plan: LoadPlan, load: "SystemLoad", weights: Mapping[str, float], base: Path | None) -> LoadPlan:
    """`plan` with a System's request templates and auth. A scenario request naming a template
    (`model: NAME`) sets its weight; when the scenario names none of them, every template runs
    with its own weight."""
    templates = []
    for t in load.requests:
        body = t.body
        if t.json_file is not None:
            path = Path(t.json_file) if base is None or Path(t.json_file).is_absolute() else base / t.json_file
            body = json.loads(path.read_text())
        templates.append({"name": t.name, "method": t.method, "path": t.path, "headers": dict(t.headers),
                          "json": body, "weight": t.weight})
    named = [t for t in templates if t["name"] in weights]
    if named:
        templates = [{**t, "weight": weights[t["name"]]} for t in named]
    auth = load.auth
    return replace(plan, templates=tuple(templates),
                   auth_header=auth.header if auth else "Authorization", auth_prefix=auth.prefix if auth else "",
                   auth_env=auth.value_env if auth else None, auth_mint=bool(auth and auth.mint))
