"""A model server's start order (modelserver/app.py): the models are placed on the device, so
the warm-up runs, before the web stack (FastAPI, uvicorn, OpenTelemetry) is imported; readiness
still waits for both. Fakes for the clock and the web module: no server is started."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import types
from pathlib import Path

import pytest
from test_modelserver_engine import _rows, fast_trainer

import chaosctl.services.modelserver as modelserver_pkg
from chaosctl.services.modelserver import app
from chaosctl.services.modelserver.engine import Engine, ModelServerConfig
from chaosctl.settings import SECRET_ENV, Settings
from chaosctl.stack.topology import Topology, model_server


class Clock:
    now = 50.0

    def __call__(self) -> float:
        return self.now


def test_the_warm_up_runs_from_the_placing_of_the_models_not_from_the_apps_start() -> None:
    async def go() -> None:
        clock, calls = Clock(), []

        def trainer(name: str, version: str, capability: str):
            calls.append(name)
            return fast_trainer(name, version, capability)

        engine = Engine(model_server("model-gpu-1"), ModelServerConfig(warmup_s=3.0), clock=clock)
        engine.place_models(trainer)
        assert engine.health() == "warming" and not engine.loaded  # placed, but no app yet
        clock.now += 2.0  # the web stack is imported meanwhile
        await engine.load(trainer)
        assert calls == ["fraud-detector", "image-classifier"]  # placed once, not again by the app
        assert engine.loaded and engine.health() == "warming"  # the full warm-up, not shortened
        clock.now += 0.9
        assert engine.health() == "warming"
        clock.now += 0.2  # 3.1 s after the placing
        assert engine.health() == "ready"
        assert (await engine.predict("image-classifier", None, _rows(1, "image-classifier"))).outputs
        await engine.close()

    asyncio.run(go())


def test_a_failed_placing_is_kept_and_reported_unhealthy_by_the_app_not_retried() -> None:
    async def go() -> None:
        def broken(name: str, version: str, capability: str):
            raise OSError("disk gone")

        engine = Engine(model_server("model-gpu-1"), ModelServerConfig(warmup_s=0.0))
        engine.place_models(broken)
        await engine.load(fast_trainer)
        assert engine.health() == "unhealthy" and engine.load_error == "OSError: disk gone" and not engine.loaded
        await engine.close()

    asyncio.run(go())


def test_serve_places_the_models_before_it_runs_the_web_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def run(engine: Engine, topology: Topology, settings: Settings, trainer: object) -> None:
        seen.update(models=sorted(engine.models), warming=engine.device is not None and engine.device.warming(),
                    loaded=engine.loaded, tracer=engine.tracer)  # fmt: skip

    fake_web = types.ModuleType("chaosctl.services.modelserver.web")
    fake_web.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, fake_web.__name__, fake_web)
    monkeypatch.setattr(modelserver_pkg, "web", fake_web, raising=False)
    monkeypatch.delenv("CHAOSCTL_GPU", raising=False)
    secrets = {name: f"{name}-{'s' * 40}" for name in SECRET_ENV}
    settings = Settings(state_dir=tmp_path / "state", port_base=24800, model_cache_dir=tmp_path / "cache", **secrets)
    app.serve("model-gpu-1", Topology(24800), settings)
    assert seen == {"models": [("fraud-detector", "2.3.1"), ("image-classifier", "1.2.0")], "warming": True,
                    "loaded": False, "tracer": None}  # fmt: skip
    assert len(list((tmp_path / "cache").glob("*.model"))) == 2  # through the model cache


def test_the_model_servers_entry_imports_no_web_library() -> None:
    code = ("import sys, chaosctl.services.__main__, chaosctl.services.modelserver.app; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette', 'uvicorn', 'opentelemetry', "
            "'httpx', 'prometheus_client'}))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
