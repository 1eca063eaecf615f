"""A credential written into a System file is refused at its FILE:LINE:COL; env var names are accepted."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from chaosctl.errors import SystemInvalid
from chaosctl.system import load_system

ROOT = Path(__file__).resolve().parents[2]
CHAOSCTL = ROOT / ".venv" / "bin" / "chaosctl"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaGFvc2N0bCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"

BASE = """\
apiVersion: chaosctl/v1
kind: System
metadata: {name: shop}
observability:
  prometheus:
    url: http://127.0.0.1:9090
    token_env: PROM_TOKEN
slis: {preset: prometheus-client}
components:
  - {name: api, kind: process, pidfile: /run/api.pid}
load:
  base_url: http://127.0.0.1:8000
  auth: {value_env: API_TOKEN}
  requests:
    - {name: home, path: /, headers: {Accept: application/json}}
"""


def _refused(tmp_path: Path, old: str, new: str) -> str:
    assert old in BASE
    path = tmp_path / "s.system.yaml"
    path.write_text(BASE.replace(old, new, 1))
    with pytest.raises(SystemInvalid) as info:
        load_system(path)
    assert len(info.value.messages) == 1, info.value.messages
    return info.value.messages[0]


def test_names_of_env_vars_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "s.system.yaml"
    path.write_text(BASE)
    system = load_system(path)
    assert system.observability.prometheus.token_env == "PROM_TOKEN"
    assert system.load is not None and system.load.auth is not None and system.load.auth.value_env == "API_TOKEN"


@pytest.mark.parametrize(
    "old, new, where, words",
    [
        ("    token_env: PROM_TOKEN", "    token: s3cr3t-value", ":7:12:", "literal secret in 'token' refused"),
        ("    token_env: PROM_TOKEN", f"    token_env: {JWT}", ":7:16:", "NAME of an environment variable"),
        ("    token_env: PROM_TOKEN", "    password: hunter2hunter2", ":7:15:", "literal secret in 'password'"),
        ("{Accept: application/json}", "{Authorization: Basic dXNlcjpwYXNz}", ":15:54:", "literal Authorization header refused"),
        ("{Accept: application/json}", "{X-Api-Key: k-123456}", ":15:50:", "literal X-Api-Key header"),
        ("url: http://127.0.0.1:9090", "url: http://admin:pw@127.0.0.1:9090", ":6:10:", "password in a URL"),
        ("metadata: {name: shop}", f"metadata: {{name: shop, description: '{JWT}'}}", ":3:37:", "looks like a token"),
        ("auth: {value_env: API_TOKEN}", "auth: {value_env: API_TOKEN, api_key: abc123456}", ":13:41:", "literal secret in 'api_key'"),
    ],
)
def test_literal_secrets_are_refused_where_they_are(tmp_path: Path, old: str, new: str, where: str, words: str) -> None:
    message = _refused(tmp_path, old, new)
    assert f"s.system.yaml{where}" in message, message
    assert words in message, message
    for leaked in ("s3cr3t", "hunter2", "dXNlcjpwYXNz", "k-123456", ":pw@", JWT, "abc123456"):
        assert leaked not in message  # the refusal must not echo the secret into CI logs


def test_cli_refuses_a_literal_token_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "leak.system.yaml"
    path.write_text(BASE.replace("    token_env: PROM_TOKEN", "    token: s3cr3t-value"))
    proc = subprocess.run([str(CHAOSCTL), "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:7:12: observability.prometheus.token: literal secret" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_label_keys_are_not_credential_fields(tmp_path: Path) -> None:
    path = tmp_path / "s.system.yaml"
    pod = "  - {name: api, kind: process, pidfile: /run/api.pid}\n  - {name: vault, kind: pod, namespace: shop, selector: {secret: store}}\n"
    text = BASE.replace("metadata: {name: shop}", "metadata: {name: shop, labels: {secret-level: high}}")
    path.write_text(text.replace("  - {name: api, kind: process, pidfile: /run/api.pid}\n", pod))
    system = load_system(path)
    assert system.metadata.labels == {"secret-level": "high"} and system.component("vault").selector == {"secret": "store"}
    path.write_text(BASE.replace("metadata: {name: shop}", "metadata: {name: shop, labels: {team: '" + JWT + "'}}"))
    with pytest.raises(SystemInvalid, match="looks like a token"):  # a token is still a token, wherever it is
        load_system(path)
