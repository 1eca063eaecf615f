"""For every test: the end-of-run account of what did not run, and why.

`-ra` lists each skip on its own line; this adds two grouped sections, one line per reason
with its count and tests, so that a green run says plainly what it did not test:
* "skipped because the platform is absent" (a Docker engine, a CUDA device, root: what
  nothing installs; `chaosctl doctor` lists those as "cannot run here");
* "skipped because a component is missing": only without CHAOSCTL_REQUIRE (with it, such a
  test fails instead, see tests/absent.py).
This folder is on sys.path (pytest's rootdir-less conftest import), so tests `import absent`.
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest

from absent import COMPONENT_MISSING
from lanes import DURATIONS, lane_port_base, live_port_base, live_scope, read_durations, scope_order

MAX_NAMES = 6  # per reason; the rest is counted


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


def skips_by_reason(reports: list[pytest.TestReport]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(platform absent, component missing): reason -> test ids."""
    platform: dict[str, list[str]] = defaultdict(list)
    component: dict[str, list[str]] = defaultdict(list)
    for rep in reports:
        if not rep.skipped or hasattr(rep, "wasxfail"):
            continue
        reason = _reason(rep)
        (component if reason.startswith(COMPONENT_MISSING) else platform)[reason].append(rep.nodeid)
    return platform, component


def _section(tr, title: str, groups: dict[str, list[str]]) -> None:
    if not groups:
        return
    tr.write_sep("=", title)
    for reason, ids in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        tr.write_line(f"{len(ids)} test(s): {reason}")
        for nodeid in ids[:MAX_NAMES]:
            tr.write_line(f"    {nodeid}")
        if len(ids) > MAX_NAMES:
            tr.write_line(f"    ... and {len(ids) - MAX_NAMES} more")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before hypothesis' plugin loads the profile named by --hypothesis-profile: register "fuzz"
    # (`make fuzz`, tests/fuzzing.py). Only then: other runs need not import hypothesis here.
    if config.getoption("--hypothesis-profile", None):
        import fuzzing  # noqa: F401
    _lane_port_base(config)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    platform, component = skips_by_reason(terminalreporter.stats.get("skipped", []))
    _section(terminalreporter, "skipped because the platform is absent", platform)
    _section(terminalreporter, "skipped because a component is missing (CHAOSCTL_REQUIRE would fail them)",
             component)


def _lane_port_base(config: pytest.Config) -> None:
    # Before collection: the test modules read CHAOSCTL_TEST_PORT_BASE when they are imported.
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return
    base = live_port_base()
    os.environ["CHAOSCTL_TEST_PORT_BASE"] = str(lane_port_base(base, workerinput["workerid"]))


def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN201 - xdist's hook
    """`make test` (`-n 2 --dist loadscope`): the unit tests in one worker while the other runs
    live modules, one module at a time, longest first; the unit worker takes live modules too
    once it is done. Each worker's live tests use its own port base (`lane_port_base`), so two
    stacks never share a port. (xdist 3.8's `loadgroup` marks do nothing under pytest 9.2: it
    renames items through `_nodeid`, which pytest 9.2 no longer reads.)"""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    seconds = read_durations(DURATIONS)

    class Lanes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return live_scope(nodeid)

        def _assign_work_unit(self, node) -> None:  # noqa: ANN001 - xdist's WorkerController
            if not getattr(self, "_ordered", False):
                order = scope_order(list(self.workqueue), seconds)
                for scope in order:
                    self.workqueue.move_to_end(scope)
                self._ordered = True
            super()._assign_work_unit(node)

    return Lanes(config, log)
