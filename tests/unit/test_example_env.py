"""`chaosctl setup --dev`'s example-system step (setup/example_env.py), with hand-made files:
a venv stamped with its lock's digest and a Caddy at the pinned version are left alone; a lock
that changed is reinstalled; without a lock (a wheel install) the step is skipped."""

from __future__ import annotations

import hashlib
from pathlib import Path

from chaosctl.settings import Settings
from chaosctl.setup import example_env


def _tools(tmp_path: Path, caddy_says: str) -> Settings:
    tools = tmp_path / "tools"
    (tools / "bin").mkdir(parents=True)
    caddy = tools / "bin" / "caddy"
    caddy.write_text(f"#!/bin/sh\necho '{caddy_says}'\n")
    caddy.chmod(0o755)
    return Settings(tools_dir=tools, tool_dirs=(tools / "bin",))


def _installed_venv(settings: Settings, lock: Path) -> None:
    venv = example_env.mlserver_venv(settings)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "mlserver").write_text("")
    (venv / ".lock-sha256").write_text(hashlib.sha256(lock.read_bytes()).hexdigest() + "\n")


def test_a_venv_of_this_lock_and_the_pinned_caddy_are_left_alone(tmp_path: Path) -> None:
    settings, lock, said = _tools(tmp_path, "v2.10.2 h1:abc="), tmp_path / "requirements.lock", []
    lock.write_text("mlserver==1.7.1 --hash=sha256:00\n")
    _installed_venv(settings, lock)
    outcome = example_env.mlserver_step(settings, said.append, lock=lock)
    assert outcome.status == "ok" and "already installed" in outcome.detail and "v2.10.2 already built" in outcome.detail
    assert said == []  # nothing was installed or built


def test_a_changed_lock_is_installed_again(tmp_path: Path, monkeypatch) -> None:
    settings, lock = _tools(tmp_path, "v2.10.2 h1:abc="), tmp_path / "requirements.lock"
    lock.write_text("mlserver==1.7.1 --hash=sha256:00\n")
    _installed_venv(settings, lock)
    lock.write_text("mlserver==1.7.2 --hash=sha256:11\n")
    calls: list[list[str]] = []

    class Done:
        returncode, stdout, stderr = 1, "", "ERROR: hash mismatch"

    monkeypatch.setattr(example_env, "caddy_step", lambda settings, say: example_env.Outcome("caddy", "ok", "fake"))
    monkeypatch.setattr(example_env.subprocess, "run", lambda argv, **kw: calls.append(argv) or Done())
    outcome = example_env.mlserver_step(settings, lambda _: None, lock=lock)
    assert calls and "venv" in calls[0]  # the venv is made anew for the new lock
    assert outcome.status == "missing" and "hash mismatch" in outcome.detail


def test_without_a_lock_the_step_is_skipped(tmp_path: Path) -> None:
    settings = _tools(tmp_path, "v2.10.2 h1:abc=")
    outcome = example_env.mlserver_step(settings, lambda _: None, lock=tmp_path / "absent.lock")
    assert outcome.status == "ok" and "skipped" in outcome.detail
