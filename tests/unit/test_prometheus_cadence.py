"""Prometheus's scrape cadence around `up` (configs.STARTING_SCRAPE_INTERVAL): started at 500 ms so the
last first-scrape of a cold `up` comes sooner, reloaded (SIGHUP) at the steady 1 s once every target
was scraped; nothing reloaded when the steady config is already in place."""

from __future__ import annotations

import signal
from pathlib import Path

import yaml

from chaosctl.settings import SECRET_ENV, Settings
from chaosctl.stack import components as comps
from chaosctl.stack import configs, state
from chaosctl.stack.local import LocalBackend
from chaosctl.stack.topology import Topology
from test_local_backend_fakes import FakeClock, FakeLauncher

BASE = 24900
COMPONENTS = ("prometheus", "gateway")


def _settings(tmp_path: Path) -> Settings:
    secrets = {name: f"{name}-{'s' * 40}" for name in SECRET_ENV}
    return Settings(state_dir=tmp_path / "state", port_base=BASE, **secrets)


def _interval(settings: Settings) -> str:
    return yaml.safe_load((settings.state_dir / "config" / "prometheus.yml").read_text())["global"]["scrape_interval"]


def test_prometheus_starts_fast_and_the_steady_config_is_written_once(tmp_path: Path) -> None:
    settings, topo = _settings(tmp_path), Topology(BASE)
    launch = comps.launch("prometheus", settings, topo, COMPONENTS)
    assert any(a.startswith("--config.file=") for a in launch.argv)
    assert _interval(settings) == configs.STARTING_SCRAPE_INTERVAL == "500ms"
    assert comps.steady_prometheus_config(settings, topo, COMPONENTS) is True
    steady = configs.to_yaml(configs.prometheus_config(topo, COMPONENTS))
    assert (settings.state_dir / "config" / "prometheus.yml").read_text() == steady
    assert _interval(settings) == configs.SCRAPE_INTERVAL == "1s"
    assert comps.steady_prometheus_config(settings, topo, COMPONENTS) is False  # in place: no reload


def test_the_starting_config_differs_from_the_steady_one_only_in_its_cadence() -> None:
    topo = Topology(BASE)
    starting = configs.prometheus_config(topo, COMPONENTS, interval=configs.STARTING_SCRAPE_INTERVAL)
    steady = configs.prometheus_config(topo, COMPONENTS)
    assert starting["scrape_configs"] == steady["scrape_configs"]
    assert starting["global"] == {**steady["global"], "scrape_interval": "500ms", "scrape_timeout": "500ms"}


def test_the_backend_reloads_prometheus_once_after_its_start(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    clock = FakeClock()
    launcher = FakeLauncher(clock)
    backend = LocalBackend(settings, components=COMPONENTS, clock=clock, sleep=clock.sleep, launcher=launcher)
    comps.launch("prometheus", settings, backend.topology, COMPONENTS)  # writes the starting config
    rec = launcher.spawn("prometheus", ["prometheus"], settings.state_dir / "logs" / "prometheus.log")
    st = state.StackState(BASE, {"prometheus": rec})
    backend._steady_prometheus(st)
    assert launcher.signals == [("prometheus", signal.SIGHUP)] and _interval(settings) == "1s"
    backend._steady_prometheus(st)  # a second `up`: the steady config is in place
    assert launcher.signals == [("prometheus", signal.SIGHUP)]


def test_no_reload_without_a_prometheus_in_the_stack(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    clock = FakeClock()
    launcher = FakeLauncher(clock)
    backend = LocalBackend(settings, components=("gateway",), clock=clock, sleep=clock.sleep, launcher=launcher)
    backend._steady_prometheus(state.StackState(BASE))
    assert launcher.signals == [] and not (settings.state_dir / "config" / "prometheus.yml").exists()
