"""`chaosctl setup`'s Kafka step with a hand-written fake `mvn` on PATH: what it asks Maven for,
the launcher it writes, that a second run does nothing, and what it says when it cannot."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from chaosctl.settings import Settings
from chaosctl.setup import kafka, pins

FAKE_MVN = r"""#!/bin/sh
echo "$*" >> "$FAKE_LOG"
cat "$4" >> "$FAKE_LOG"  # the pom (-q -B -f POM)
for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}" ;; esac; done
[ -n "$FAKE_MVN_FAIL" ] && { echo "[ERROR] Could not resolve dependencies" ; exit 1; }
mkdir -p "$out" && : > "$out/kafka_2.13-4.4.0.jar" && : > "$out/kafka-clients-4.4.0.jar"
"""


@pytest.fixture
def fake_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake = tmp_path / "fakebin"
    fake.mkdir()
    for name, text in (("mvn", FAKE_MVN), ("java", "#!/bin/sh\n")):
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "mvn.log"))
    return tmp_path / "mvn.log"


def _settings(tmp_path: Path) -> Settings:
    tools = tmp_path / "tools"
    return Settings(tools_dir=tools, tool_dirs=(tools / "bin",))


def test_fetches_the_pinned_artifacts_once_and_writes_the_launcher(tmp_path: Path, fake_mvn: Path) -> None:
    settings = _settings(tmp_path)
    first = kafka.kafka_step(settings, lambda _: None)
    assert first.status == "installed", first
    log = fake_mvn.read_text()
    assert f"{pins.MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies" in log
    assert "<artifactId>kafka_2.13</artifactId><version>4.4.0</version>" in log
    launcher = settings.tools_dir / "bin" / pins.KAFKA_LAUNCHER
    out = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stdout.strip() == f"kafka {pins.KAFKA_VERSION}"
    assert not [p for p in settings.tools_dir.iterdir() if p.name.startswith(".")], "no temporary folder left"
    second = kafka.kafka_step(settings, lambda _: None)
    assert second.status == "ok" and fake_mvn.read_text() == log, "a second setup must not call mvn"


def test_a_removed_jar_makes_the_launcher_say_so_and_setup_fetch_again(tmp_path: Path, fake_mvn: Path) -> None:
    settings = _settings(tmp_path)
    kafka.kafka_step(settings, lambda _: None)
    (kafka.kafka_home(settings.tools_dir) / "libs" / pins.KAFKA_MAIN_JAR).unlink()
    out = subprocess.run([str(settings.tools_dir / "bin" / pins.KAFKA_LAUNCHER), "--version"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "missing (run chaosctl setup)" in out.stderr
    assert kafka.kafka_step(settings, lambda _: None).status == "installed"


def test_a_failing_mvn_is_reported_with_its_command_and_leaves_nothing_installed(
        tmp_path: Path, fake_mvn: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MVN_FAIL", "1")
    settings = _settings(tmp_path)
    outcome = kafka.kafka_step(settings, lambda _: None)
    assert outcome.status == "missing"
    assert "copy-dependencies" in outcome.detail and "Could not resolve dependencies" in outcome.detail
    assert not kafka.installed(settings.tools_dir) and not kafka.kafka_home(settings.tools_dir).exists()


def test_without_java_or_mvn_it_names_the_packages(tmp_path: Path, fake_mvn: Path) -> None:
    (tmp_path / "fakebin" / "mvn").unlink()
    os.environ["PATH"] = str(tmp_path / "fakebin")  # restored by monkeypatch (fake_mvn set it)
    outcome = kafka.kafka_step(_settings(tmp_path), lambda _: None)
    assert outcome.status == "missing" and outcome.detail.startswith("mvn not found")
    assert "apt-get install -y --no-install-recommends default-jre-headless maven" in outcome.detail


FAKE_JAVA_LOGGING = '#!/bin/sh\necho "java $*" >> "$FAKE_LOG"\n'


def test_setup_records_the_class_data_archive_and_never_again_once_there(tmp_path: Path, fake_mvn: Path) -> None:
    settings = _settings(tmp_path)
    (tmp_path / "fakebin" / "java").write_text(FAKE_JAVA_LOGGING)  # a "broker" that exits at once
    outcome = kafka.kafka_step(settings, lambda _: None)
    # The recording broker never answered: installed all the same, and it says the archive is missing.
    assert outcome.status == "installed" and "no class-data archive" in outcome.detail
    log = fake_mvn.read_text()
    assert "kafka.tools.StorageTool format" in log and "-XX:ArchiveClassesAtExit=" in log and "kafka.Kafka" in log
    assert kafka.archive_opts(settings) == ()  # no archive: the broker starts without one
    kafka.class_archive(settings.tools_dir).write_bytes(b"archive")
    assert kafka.kafka_step(settings, lambda _: None).status == "ok"
    assert fake_mvn.read_text() == log, "with the archive there, setup starts no JVM"
    assert kafka.archive_opts(settings)[0] == f"-XX:SharedArchiveFile={kafka.class_archive(settings.tools_dir)}"
    assert "-Xshare:auto" in kafka.archive_opts(settings)  # a stale archive is ignored, never fatal


def test_the_broker_maps_the_archive_setup_recorded(tmp_path: Path, fake_mvn: Path) -> None:
    from chaosctl.settings import SECRET_ENV
    from chaosctl.stack.components import launch
    from chaosctl.stack.topology import EVENTS, Topology

    tools = tmp_path / "tools"
    secrets = {name: f"{name}-{'s' * 40}" for name in SECRET_ENV}
    settings = Settings(tools_dir=tools, tool_dirs=(tools / "bin",), state_dir=tmp_path / "state", **secrets)
    kafka.kafka_step(settings, lambda _: None)
    kafka.class_archive(tools).write_bytes(b"archive")
    argv = launch(EVENTS, settings, Topology(settings.port_base), (EVENTS,)).argv
    assert f"-XX:SharedArchiveFile={kafka.class_archive(tools)}" in argv
    assert argv.index(f"-XX:SharedArchiveFile={kafka.class_archive(tools)}") < argv.index("kafka.Kafka")
