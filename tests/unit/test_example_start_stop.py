"""examples/third-party-mlserver/start.py's `stop`: it signals the pid in run/NAME.pid only while
that pid is still the process `spawn` started (its start stamp matches); a pid reused by another
process is "already gone" and that process is left alone. Real processes (sleep), no fakes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

START_PY = Path(__file__).resolve().parents[2] / "examples" / "third-party-mlserver" / "start.py"


@pytest.fixture()
def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_start", START_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RUN", tmp_path)
    return module


def test_stop_ends_the_process_spawn_started(start: ModuleType, tmp_path: Path) -> None:
    pid = start.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    assert start.start_stamp(pid) is not None
    start.stop("sleeper")
    assert start.start_stamp(pid) is None  # gone (a zombie counts as gone: it is no longer ours to stop)
    assert not (tmp_path / "sleeper.pid").exists() and not (tmp_path / "sleeper.started").exists()


def test_stop_leaves_alone_a_process_that_reused_the_pid(start: ModuleType, tmp_path: Path) -> None:
    # Another process now holds the pid in the pidfile: its start stamp is not the one recorded.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "replica-1.pid").write_text(f"{other.pid}\n")
        (tmp_path / "replica-1.started").write_text(f"{other.pid} proc:1\n")
        start.stop("replica-1")
        assert other.poll() is None, "stop signalled a process it did not start"
        assert not (tmp_path / "replica-1.pid").exists()  # ours is already gone: its pidfile goes too
    finally:
        other.kill()
        other.wait()


def test_a_pidfile_without_a_start_stamp_is_not_signalled(start: ModuleType, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "caddy.pid").write_text(f"{other.pid}\n")
        start.stop("caddy")
        assert other.poll() is None
        assert "no start stamp" in capsys.readouterr().out
    finally:
        other.kill()
        other.wait()
