"""`chaosctl up`'s last word (chaosctl.stack.up): "stack ready" only when every component the
backend returned is READY; otherwise StackUnavailable (exit 3), naming the ones that are not."""

from __future__ import annotations

from pathlib import Path

import pytest

import chaosctl.stack as stack
from chaosctl.errors import StackUnavailable
from chaosctl.settings import SECRET_ENV, Settings
from chaosctl.stack.backend import READY, STOPPED, ComponentStatus, StackStatus


class _Backend:
    """What a backend's up() hands back: the statuses given."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states = states

    def up(self) -> StackStatus:
        return StackStatus("fake", tuple(ComponentStatus(n, s, f"http://127.0.0.1:1/{n}", 1) for n, s in self.states.items()))


def _settings(tmp_path: Path) -> Settings:
    secrets = {name: f"{name}-{'s' * 40}" for name in SECRET_ENV}
    return Settings(state_dir=tmp_path / "state", port_base=24900, **secrets)


def test_up_with_a_component_gone_since_it_answered_fails_and_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(stack, "_backend", lambda settings, reporter: _Backend({"registry": STOPPED, "gateway": READY}))
    with pytest.raises(StackUnavailable, match=r"stack not fully up: registry \(stopped\)$"):
        stack.up(_settings(tmp_path))
    assert "stack ready" not in capsys.readouterr().err


def test_up_with_every_component_ready_says_stack_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(stack, "_backend", lambda settings, reporter: _Backend({"registry": READY, "gateway": READY}))
    assert stack.up(_settings(tmp_path)).all_ready
    assert "stack ready" in capsys.readouterr().err
