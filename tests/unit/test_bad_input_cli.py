"""Each crash class of issue 10 part 6, through the real CLI in a subprocess: exit 2, a message
naming the input (FILE:LINE:COL, the flag or the variable), no traceback, no hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / "scenarios" / "latency-injection.yaml").read_text()


def _cli(*args: str, env: dict[str, str] | None = None, tmp: Path) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "CHAOSCTL_STATE_DIR": str(tmp / "state"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "chaosctl.cli", *args], capture_output=True, text=True, timeout=60,
                          env=full_env, cwd=tmp)


def _refused(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)


@pytest.mark.parametrize("old, new, where", [
    ("duration: 30s", "duration: .nan", "s.yaml:35:15: phases[0].duration: duration nan is not a finite number"),
    ("spawn_rate: 10", "spawn_rate: .inf", "s.yaml:28:15: load.spawn_rate"),
    ("weight: 6}", "weight: 1e400}", "s.yaml:30:57: load.requests[0].weight"),
    ("users: 20", "users: 1" + "0" * 5000, "s.yaml:27:10: number with 5001 digits is too large"),
    ("duration: 45s", "duration: 99999999999999999999999h", "s.yaml:37:15: phases[1].duration"),
    ('objective: "< 1s"', 'objective: "< 1e400"', "slos[1].objective: '1e400' is not a finite number"),
    ("  name: latency-injection", "  name: 2026-02-30", "s.yaml:24:9: metadata.name"),
])  # fmt: skip
def test_bad_numbers_and_dates_in_a_scenario(tmp_path: Path, old: str, new: str, where: str) -> None:
    assert old in BASE
    (tmp_path / "s.yaml").write_text(BASE.replace(old, new, 1))
    _refused(_cli("run", "--dry-run", "s.yaml", tmp=tmp_path), where)


def test_an_invalid_date_in_a_description_is_just_text(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(BASE.replace("  description: latency", "  description: 2026-13-45 99:00:00 latency", 1))
    proc = _cli("validate", "s.yaml", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_console_markup_and_control_characters_in_names_are_shown_as_written(tmp_path: Path) -> None:
    text = BASE.replace("name: gateway healthy", 'name: "[bold]x[/bold] [/] [link=http://evil]click\\x1b[2J"', 1)
    text = text.replace("{when: error_ratio > 0.5, for: 5s}", '{name: "[/]\\u202e", when: error_ratio > 0.5, for: 5s}', 1)
    (tmp_path / "s.yaml").write_text(text)
    proc = _cli("run", "--dry-run", "s.yaml", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[bold]x[/bold] [/] [link=http://evil]click[2J" in proc.stdout
    assert "abort conditions (while faults are in place): [/]\n" in proc.stdout
    assert "\x1b" not in proc.stdout and "\u202e" not in proc.stdout


@pytest.mark.parametrize("args, needle", [
    (["token", "--ttl", "99999999999999999999999h"], "--ttl: duration"),
    (["token", "--ttl", "0"], "--ttl: '0' must be more than 0"),
    (["bottlenecks", "--jaeger", "http://127.0.0.1:9", "--service", "x", "--since", "9" * 30 + "h"], "--since: duration"),
    (["bottlenecks", "--jaeger", "http://127.0.0.1:9", "--service", "x", "--window", "nan..inf"], "--window: 'nan' is not a time"),
    (["bottlenecks", "--jaeger", "http://127.0.0.1:9", "--service", "x", "--window", "1e17..1e21"], "--window: '1e17' is not a time"),
    (["bottlenecks", "--jaeger", "http://127.0.0.1:9", "--service", "x", "--window", "0..99999999"], "is longer than"),
    (["bottlenecks", "--jaeger", "http://127.0.0.1:9", "--service", "x", "--window", "2026-13-45..2026-01-01"], "--window: '2026-13-45'"),
])  # fmt: skip
def test_absurd_time_flags(tmp_path: Path, args: list[str], needle: str) -> None:
    _refused(_cli(*args, tmp=tmp_path), needle)


@pytest.mark.parametrize("name, value, needle", [
    ("CHAOSCTL_PORT_BASE", "abc", "CHAOSCTL_PORT_BASE='abc': expected a whole number"),
    ("CHAOSCTL_PORT_BASE", "70000", "CHAOSCTL_PORT_BASE=70000: out of range"),
    ("CHAOSCTL_PORT_BASE", "-1", "CHAOSCTL_PORT_BASE=-1: out of range"),
    ("CHAOSCTL_BACKEND", "k8s", "CHAOSCTL_BACKEND='k8s': unknown backend"),
    ("CHAOSCTL_GRAFANA_URL", "notaurl", "CHAOSCTL_GRAFANA_URL='notaurl'"),
])  # fmt: skip
def test_invalid_environment_values_name_the_variable(tmp_path: Path, name: str, value: str, needle: str) -> None:
    (tmp_path / "s.yaml").write_text(BASE)
    _refused(_cli("run", "--dry-run", "s.yaml", env={name: value}, tmp=tmp_path), needle)


def test_a_malformed_journal_stops_recover_naming_the_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "journal.jsonl").write_text('{"event": "inject", "record": {"id": "x"}}\n')
    _refused(_cli("recover", tmp=tmp_path), "journal.jsonl:1: fault journal")


def test_a_malformed_stack_state_is_named(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "stack.json").write_text("[1, 2]")
    _refused(_cli("status", "--port-base", "31900", tmp=tmp_path), "stack.json: unreadable stack state")


def test_odd_files_are_named_not_hung_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")  # nobody writes: the open must not block
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "bin.yaml").write_bytes(b"apiVersion: \xff\xfe\n")
    (tmp_path / "big.yaml").write_bytes(b"# " + b"x" * 1_000_001)
    proc = _cli("validate", "pipe.yaml", "dir.yaml", "bin.yaml", "big.yaml", tmp=tmp_path)
    _refused(proc, "pipe.yaml:1:1: empty file", "dir.yaml:1:1: cannot read", "bin.yaml:1:13: not a UTF-8 text file",
             "big.yaml:1:1: file is larger than 1000000 bytes")
