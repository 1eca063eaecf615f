"""What `chaosctl setup` installs, pinned in one place (doctor and `--version` read it too).

Plain constants: imported by `chaosctl --version` and `stack.tools`, so nothing heavy here.
"""

from __future__ import annotations

from dataclasses import dataclass

# Debian packages: the binary that must be found -> the package that gives it.
APT_PACKAGES: dict[str, str] = {"etcd": "etcd-server", "etcdctl": "etcd-client", "prometheus": "prometheus",
                                 "redis-server": "redis-server",  # the gateway's prediction cache
                                 "java": "default-jre-headless", "mvn": "maven"}  # Kafka (setup/kafka.py)
# Test-only, installed by `chaosctl setup --dev` (`make setup`): Chromium for the report.html
# screenshots; ShellCheck, which actionlint runs on the Action's and workflows' scripts.
APT_DEV_PACKAGES: dict[str, str] = {"chromium": "chromium", "shellcheck": "shellcheck"}

TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"
# Jaeger v2.13.0 is the Go module tag v1.76.0, pinned in the shipped go.mod (data/jaeger/).
JAEGER_VERSION = "v2.13.0"
JAEGER_PACKAGE = "github.com/jaegertracing/jaeger/cmd/jaeger"
# The workflow linter the Action's test runs (test-only, `--dev`).
ACTIONLINT_VERSION = "v1.7.12"
ACTIONLINT_PACKAGE = "github.com/rhysd/actionlint/cmd/actionlint"
# Apache Kafka (the event path's broker, KRaft mode): its released Maven artifacts, run on the
# machine's Java (17+). setup/kafka.py resolves them with Maven into TOOLS_DIR/kafka-<version>.
KAFKA_VERSION = "4.4.0"
KAFKA_ARTIFACTS: tuple[tuple[str, str, str], ...] = (
    ("org.apache.kafka", "kafka_2.13", KAFKA_VERSION),
    ("org.apache.logging.log4j", "log4j-slf4j-impl", "2.25.5"),  # the broker's log (Kafka's log4j-api is 2.25.5)
)
KAFKA_MAIN_JAR = f"kafka_2.13-{KAFKA_VERSION}.jar"
KAFKA_LAUNCHER = "chaosctl-kafka"  # TOOLS_DIR/bin: java on Kafka's classpath
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:2.8"
# The shipped go.mod says `go 1.24.6`; an older Go fetches that toolchain itself only where it may.
GO_MIN = (1, 24)


@dataclass(frozen=True)
class GoTool:
    """A binary that `chaosctl setup` builds with Go into TOOLS_DIR/bin."""

    binary: str
    version: str
    version_args: tuple[str, ...]
    dev: bool = False  # only with --dev (make setup): needed by the tests, not by a run


GO_TOOLS = (
    GoTool("toxiproxy-server", TOXIPROXY_VERSION, ("--version",)),
    GoTool("jaeger", JAEGER_VERSION, ("version",)),
    GoTool("actionlint", ACTIONLINT_VERSION, ("-version",), dev=True),
)


def apt_command(packages: list[str], sudo: bool) -> str:
    """The exact command that installs `packages` (what setup runs, or tells the user to run)."""
    pre = "sudo " if sudo else ""
    return f"{pre}apt-get update && {pre}apt-get install -y --no-install-recommends {' '.join(packages)}"
