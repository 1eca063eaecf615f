"""`chaosctl setup` with a hand-written fake `go` and `apt-get` on PATH: what it builds, that a
second run builds nothing, that a wrong version is rebuilt, and what it says when it cannot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chaosctl.cli import exit_code_for
from chaosctl.errors import StackUnavailable
from chaosctl.settings import Settings
from chaosctl.setup import install, pins

FAKE_GO = r"""#!/bin/sh
# A fake `go`: logs its arguments; `install` writes each command into $GOBIN and `build -o OUT`
# writes OUT, as scripts that print the version the real binaries print.
echo "$*" >> "$FAKE_LOG"
case "$1" in
  env) echo go1.26.0 ;;
  version) echo "go version go1.26.0 linux/amd64" ;;
  install)
    for pkg in "$@"; do
      case "$pkg" in
        */toxiproxy/v2/cmd/server@*) printf '#!/bin/sh\necho "toxiproxy-server version 2.12.0"\n' > "$GOBIN/server"; chmod +x "$GOBIN/server" ;;
        */toxiproxy/v2/cmd/cli@*) printf '#!/bin/sh\necho cli\n' > "$GOBIN/cli"; chmod +x "$GOBIN/cli" ;;
        */actionlint@*) printf '#!/bin/sh\necho v1.7.12\n' > "$GOBIN/actionlint"; chmod +x "$GOBIN/actionlint" ;;
      esac
    done ;;
  build)
    out=""; prev=""
    for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
    [ -f go.mod ] || { echo "no go.mod in $(pwd)" >&2; exit 1; }
    printf '#!/bin/sh\necho "{\\"gitCommit\\":\\"\\",\\"gitVersion\\":\\"v2.13.0\\",\\"buildDate\\":\\"\\"}"\n' > "$out"; chmod +x "$out" ;;
esac
"""


FAKE_MVN = r"""#!/bin/sh
# A fake `mvn`: writes the pinned Kafka jar into -DoutputDirectory=...
for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}" ;; esac; done
mkdir -p "$out" && : > "$out/kafka_2.13-4.4.0.jar"
"""


def _script(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH with the fake go first, and a log of its calls."""
    fake = tmp_path / "fakebin"
    fake.mkdir()
    _script(fake, "go", FAKE_GO)
    for binary in pins.APT_PACKAGES:  # the Debian packages "are installed"
        _script(fake, binary, "#!/bin/sh\n")
    _script(fake, "mvn", FAKE_MVN)  # "resolves" Kafka's jars (tests/unit/test_setup_kafka.py)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "go.log"))
    return tmp_path / "go.log"


def _settings(tmp_path: Path) -> Settings:
    tools = tmp_path / "tools"
    return Settings(tools_dir=tools, tool_dirs=(tools / "bin",))


def test_builds_the_pinned_tools_once(tmp_path: Path, fake_path: Path) -> None:
    settings, said = _settings(tmp_path), []
    first = {o.component: o.status for o in install.run_setup(settings, say=said.append)}
    assert first == {", ".join(pins.APT_PACKAGES): "ok", "toxiproxy-server": "installed", "jaeger": "installed",
                     f"kafka {pins.KAFKA_VERSION}": "installed"}
    bin_dir = settings.tools_dir / "bin"
    assert {p.name for p in bin_dir.iterdir()} == {"toxiproxy-server", "toxiproxy-cli", "jaeger", pins.KAFKA_LAUNCHER}  # no temp left
    log = fake_path.read_text()
    assert f"server@{pins.TOXIPROXY_VERSION}" in log and f"Version={pins.TOXIPROXY_VERSION.lstrip('v')}" in log
    assert f"latestVersion={pins.JAEGER_VERSION}" in log and pins.JAEGER_PACKAGE in log
    assert (settings.tools_dir / "src" / "jaeger" / "go.sum").is_file()  # built from a copy of the shipped module

    second = install.run_setup(settings, say=said.append)
    assert {o.status for o in second} == {"ok"}
    assert fake_path.read_text() == log, "a second setup must not call go at all"


def test_a_binary_at_another_version_is_rebuilt(tmp_path: Path, fake_path: Path) -> None:
    settings = _settings(tmp_path)
    install.run_setup(settings, say=lambda _: None)
    _script(settings.tools_dir / "bin", "toxiproxy-server", "#!/bin/sh\necho 'toxiproxy-server version 2.11.0'\n")
    again = {o.component: o.status for o in install.run_setup(settings, say=lambda _: None)}
    assert again["toxiproxy-server"] == "installed" and again["jaeger"] == "ok"


def test_dev_adds_actionlint(tmp_path: Path, fake_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "fakebin"
    for binary in pins.APT_DEV_PACKAGES:
        _script(fake, binary, "#!/bin/sh\n")
    # --dev also installs the third-party example's MLServer venv (example_env, tested on its own):
    # a real pip install, not what this test is about.
    from chaosctl.setup import example_env

    monkeypatch.setattr(example_env, "mlserver_step", lambda settings, say: install.Outcome("mlserver", "ok", "fake"))
    outcomes = {o.component: o for o in install.run_setup(_settings(tmp_path), dev=True, say=lambda _: None)}
    assert outcomes["actionlint"].status == "installed" and pins.ACTIONLINT_VERSION in outcomes["actionlint"].detail


def test_without_go_it_names_what_is_missing_and_the_fix(tmp_path: Path, fake_path: Path) -> None:
    (tmp_path / "fakebin" / "go").unlink()
    os.environ["PATH"] = str(tmp_path / "fakebin")  # restored by monkeypatch (fake_path set it)
    with pytest.raises(StackUnavailable) as err:
        install.run_setup(_settings(tmp_path), say=lambda _: None)
    text = str(err.value)
    assert exit_code_for(err.value) == 3
    assert "toxiproxy-server: Go is not installed" in text and "jaeger: Go is not installed" in text
    assert "then run `chaosctl setup` again" in text


def test_apt_as_root_installs_with_apt_get(tmp_path: Path, fake_path: Path) -> None:
    _script(tmp_path / "fakebin", "apt-get", '#!/bin/sh\necho "apt-get $*" >> "$FAKE_LOG"\n')
    said: list[str] = []
    outcome = install._apt_step({"no-such-binary-x": "pkg-x"}, said.append, euid=0)
    assert outcome.status == "installed", outcome
    log = fake_path.read_text().splitlines()
    assert log == ["apt-get update -qq", "apt-get install -y -qq --no-install-recommends pkg-x"]


def test_apt_without_root_or_sudo_prints_the_exact_command(tmp_path: Path, fake_path: Path) -> None:
    _script(tmp_path / "fakebin", "apt-get", '#!/bin/sh\necho "apt-get $*" >> "$FAKE_LOG"; exit 9\n')
    _script(tmp_path / "fakebin", "sudo", "#!/bin/sh\nexit 1\n")  # sudo wants a password
    outcome = install._apt_step({"no-such-binary-x": "pkg-x", "no-such-binary-y": "pkg-y"}, lambda _: None, euid=1000)
    assert outcome.status == "missing"
    assert "sudo apt-get update && sudo apt-get install -y --no-install-recommends pkg-x pkg-y" in outcome.detail
    assert not fake_path.exists(), "nothing may be run without the rights to install"


def test_version_names_each_component_found_and_where(tmp_path: Path, fake_path: Path) -> None:
    import subprocess
    import sys

    from chaosctl.setup.versions import chaosctl_version

    settings = _settings(tmp_path)
    install.run_setup(settings, say=lambda _: None)  # the fake toxiproxy-server and jaeger
    env = {**os.environ, "CHAOSCTL_TOOLS_DIR": str(settings.tools_dir), "PATH": str(tmp_path / "fakebin")}
    out = subprocess.run([sys.executable, "-m", "chaosctl.cli", "--version"], env=env, capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"chaosctl {chaosctl_version()}"
    row = {line.split()[0]: line for line in lines[1:]}
    assert "2.12.0" in row["toxiproxy-server"] and str(settings.tools_dir / "bin" / "toxiproxy-server") in row["toxiproxy-server"]
    assert "v2.13.0" in row["jaeger"]
    assert "1.26.0" in row["go"]
    assert row["etcd"].split()[1] == "?"  # found (a fake that prints nothing), version unknown


def test_the_pinned_version_found_elsewhere_is_not_built_again(tmp_path: Path, fake_path: Path) -> None:
    elsewhere = tmp_path / "checkout-tools"
    install.run_setup(Settings(tools_dir=elsewhere, tool_dirs=(elsewhere / "bin",)), say=lambda _: None)
    calls = fake_path.read_text()
    settings = Settings(tools_dir=tmp_path / "per-user", tool_dirs=(tmp_path / "per-user" / "bin", elsewhere / "bin"))
    outcomes = install.run_setup(settings, say=lambda _: None)
    assert {o.status for o in outcomes} == {"ok"} and str(elsewhere) in outcomes[1].detail
    assert fake_path.read_text() == calls


def test_version_stays_light(tmp_path: Path) -> None:
    """`chaosctl --version` runs before any command would: none of the heavy libraries load."""
    import subprocess
    import sys

    code = ("import sys\nsys.argv = ['chaosctl', '--version']\nfrom chaosctl import cli\n"
            "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('rich', 'pydantic', 'locust', 'docker', 'numpy', 'sklearn', 'ruamel',"
            " 'httpx', 'fastapi', 'opentelemetry') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.stdout.splitlines()[-1] == "HEAVY []", out.stdout + out.stderr
