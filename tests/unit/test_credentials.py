"""The install's secrets file: generation (0600 in a 0700 dir), reuse, refusal of files others
can read, of published constants and of weak values, from the file and from the environment."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from chaosctl.cli import exit_code_for
from chaosctl.credentials import KNOWN_CONSTANTS, NAMES, load_or_create, resolve, secret_by_option, secrets_path
from chaosctl.errors import UsageError
from chaosctl.settings import SECRET_ENV, load_settings

OLD_JWT, OLD_ADMIN = "chaosctl-dev-secret-change-me-0123456789", "chaosctl-admin-dev-token"
GOOD = "g" * 40


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in SECRET_ENV.values():
        monkeypatch.delenv(env, raising=False)


def test_the_old_constants_are_the_ones_refused() -> None:
    assert KNOWN_CONSTANTS == {OLD_JWT, OLD_ADMIN}
    source = (Path(__file__).resolve().parents[2] / "src" / "chaosctl").rglob("*.py")
    holders = [p.name for p in source if any(c in p.read_text() for c in KNOWN_CONSTANTS)]
    assert holders == ["credentials.py"]  # nowhere else in the source any more


def test_first_need_creates_random_distinct_secrets_0600_in_a_0700_dir(tmp_path: Path, no_secret_env) -> None:
    state = tmp_path / "deep" / "state"
    settings = load_settings(state_dir=state)
    path = secrets_path(state)
    assert _mode(path) == 0o600 and _mode(state) == 0o700
    values = [getattr(settings, n) for n in NAMES]
    assert len(set(values)) == len(NAMES) and all(len(v) >= 32 for v in values)
    stored = json.loads(path.read_text())
    assert [stored[n] for n in NAMES] == values
    again = load_settings(state_dir=state)  # the same install keeps its secrets
    assert [getattr(again, n) for n in NAMES] == values
    other = load_settings(state_dir=tmp_path / "other")  # another install gets others
    assert not {getattr(other, n) for n in NAMES} & set(values)
    assert not list(state.glob(".secrets.json.*"))  # no temporary file left


def test_an_existing_open_state_dir_is_tightened(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    load_or_create(state)
    assert _mode(state) == 0o700


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o620])
def test_a_secrets_file_others_can_read_is_refused(tmp_path: Path, mode: int, no_secret_env) -> None:
    load_or_create(tmp_path)
    path = secrets_path(tmp_path)
    before = path.read_text()
    os.chmod(path, mode)
    with pytest.raises(UsageError) as err:
        load_settings(state_dir=tmp_path)
    message = str(err.value)
    assert str(path) in message and f"mode {mode:04o}" in message and f"chmod 600 {path}" in message
    assert exit_code_for(err.value) == 2
    assert path.read_text() == before and _mode(path) == mode  # refused, not silently "fixed"


def test_a_symlinked_secrets_file_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.json"
    real.write_text("{}")
    os.chmod(real, 0o600)
    os.chmod(tmp_path, 0o700)
    secrets_path(tmp_path).symlink_to(real)
    with pytest.raises(UsageError, match="cannot open the secrets file"):
        load_or_create(tmp_path)


@pytest.mark.parametrize("constant", sorted(KNOWN_CONSTANTS))
@pytest.mark.parametrize("env", sorted(SECRET_ENV.values()))
def test_published_constants_in_the_environment_are_refused(tmp_path, monkeypatch, no_secret_env, constant, env) -> None:
    monkeypatch.setenv(env, constant)
    with pytest.raises(UsageError, match=f"env {env}: .* constant published in chaosctl's source"):
        load_settings(state_dir=tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_published_constants_in_the_file_are_refused(tmp_path: Path, name: str, no_secret_env) -> None:
    load_or_create(tmp_path)
    path = secrets_path(tmp_path)
    data = json.loads(path.read_text())
    data[name] = OLD_JWT
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match=f"{path}: {name} is a constant published"):
        load_settings(state_dir=tmp_path)


def test_short_or_shared_values_are_refused(tmp_path, monkeypatch, no_secret_env) -> None:
    monkeypatch.setenv("CHAOSCTL_ADMIN_TOKEN", "short")
    with pytest.raises(UsageError, match="env CHAOSCTL_ADMIN_TOKEN: admin_token is 5 characters long"):
        load_settings(state_dir=tmp_path)
    monkeypatch.setenv("CHAOSCTL_ADMIN_TOKEN", GOOD)
    monkeypatch.setenv("CHAOSCTL_SERVICE_TOKEN", GOOD)
    with pytest.raises(UsageError, match="service_token equals admin_token"):
        load_settings(state_dir=tmp_path)


def test_environment_overrides_the_file_and_a_full_set_never_touches_it(tmp_path, monkeypatch, no_secret_env) -> None:
    monkeypatch.setenv("CHAOSCTL_JWT_SECRET", GOOD)
    settings = load_settings(state_dir=tmp_path / "a")
    stored = json.loads(secrets_path(tmp_path / "a").read_text())
    assert settings.jwt_secret == GOOD != stored["jwt_secret"] and settings.admin_token == stored["admin_token"]
    given = {n: f"{n}-{'x' * 40}" for n in NAMES}
    got = resolve(tmp_path / "b", given, {})
    assert [getattr(got, n) for n in NAMES] == list(given.values())
    assert not (tmp_path / "b").exists()  # a service started by the stack reads no file


def test_a_malformed_file_names_itself(tmp_path: Path) -> None:
    load_or_create(tmp_path)
    path = secrets_path(tmp_path)
    for body in ("{not json", "[1, 2]", '{"jwt_secret": 7}'):
        path.write_text(body)
        with pytest.raises(UsageError, match=f"{path}: malformed secrets file"):
            load_or_create(tmp_path)


def test_a_file_lacking_a_newer_secret_is_completed_and_keeps_the_rest(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    path = secrets_path(tmp_path)
    data = json.loads(path.read_text())
    del data["service_token"]
    path.write_text(json.dumps(data))
    second = load_or_create(tmp_path)
    assert second.jwt_secret == first.jwt_secret and second.service_token != first.service_token
    assert _mode(path) == 0o600 and json.loads(path.read_text())["service_token"] == second.service_token


def test_two_first_commands_at_once_agree_on_one_set(tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; from chaosctl.credentials import load_or_create; "
            "print(load_or_create(Path(sys.argv[1])).jwt_secret)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "s")], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]  # fmt: skip
    outs = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(outs) == 1 and all(p.returncode == 0 for p in procs)


def test_token_secret_option(tmp_path: Path, no_secret_env) -> None:
    settings = load_settings(state_dir=tmp_path)
    assert secret_by_option(settings, "admin-token") == settings.admin_token
    assert secret_by_option(settings, "grafana-password") == settings.grafana_admin_password
    with pytest.raises(UsageError, match="--secret: unknown secret 'root'"):
        secret_by_option(settings, "root")


def test_cli_prints_a_secret_only_on_request_and_refuses_an_open_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV.values()}
    env["CHAOSCTL_STATE_DIR"] = str(tmp_path)
    cli = [sys.executable, "-m", "chaosctl.cli"]
    jwt = subprocess.run([*cli, "token"], env=env, capture_output=True, text=True, timeout=60)
    stored = json.loads(secrets_path(tmp_path).read_text())
    assert jwt.returncode == 0 and not any(v in jwt.stdout + jwt.stderr for v in stored.values() if isinstance(v, str))
    admin = subprocess.run([*cli, "token", "--secret", "admin-token"], env=env, capture_output=True, text=True, timeout=60)
    assert admin.stdout.strip() == stored["admin_token"]
    os.chmod(secrets_path(tmp_path), 0o644)
    refused = subprocess.run([*cli, "token"], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "readable by group or others" in refused.stderr
    assert "Traceback" not in refused.stderr and refused.stdout == ""


def test_create_false_reads_an_existing_file_but_never_makes_one(tmp_path: Path, no_secret_env) -> None:
    bare = load_settings(state_dir=tmp_path / "fresh", create_secrets=False)
    assert not (tmp_path / "fresh").exists() and bare.jwt_secret == bare.admin_token == ""
    made = load_settings(state_dir=tmp_path / "made")
    read = load_settings(state_dir=tmp_path / "made", create_secrets=False)
    assert [getattr(read, n) for n in NAMES] == [getattr(made, n) for n in NAMES]


def test_settings_never_show_their_secrets_in_a_repr(tmp_path: Path, no_secret_env) -> None:
    settings = load_settings(state_dir=tmp_path)
    assert not any(getattr(settings, n) in repr(settings) for n in NAMES)
