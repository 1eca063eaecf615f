"""`python -m chaosctl.services NAME`: dispatch to the right service package, clear error otherwise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chaosctl.services.__main__ import main, package_for


def test_every_topology_service_has_a_package_with_serve() -> None:
    import importlib

    from chaosctl.stack.topology import Topology

    for name in Topology().services:
        pkg = package_for(name)
        assert pkg is not None, name
        if pkg != "gateway":  # built elsewhere; its own tests import it
            assert callable(importlib.import_module(f"chaosctl.services.{pkg}.app").serve)
    assert package_for("registry-store[0]") is None


def test_unknown_service_exits_2_naming_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope", "--port-base", "1"]) == 2
    err = capsys.readouterr().err
    assert "unknown service 'nope'" in err and "model-gpu-1" in err


def test_module_runs_as_a_program() -> None:
    out = subprocess.run([sys.executable, "-m", "chaosctl.services", "bogus"], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
