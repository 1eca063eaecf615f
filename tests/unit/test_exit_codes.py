"""One error path (issue 14 part 3): the CLI's one table turns errors and verdicts into exit
codes; usage errors are their own kind; the reference services raise their own errors."""

from __future__ import annotations

import pytest

from chaosctl import errors
from chaosctl.cli import EXIT_CODES, VERDICT_EXIT_CODES, exit_code_for
from chaosctl.observe.spans import TraceFormatError
from chaosctl.services.errors import ServiceConfigInvalid, ServiceDependencyMissing, ServiceError


@pytest.mark.parametrize(("error", "code"), [
    (errors.ScenarioInvalid("s.yaml:1:1: bad"), 2),
    (errors.SystemInvalid("sys.yaml:2:3: bad"), 2),
    (errors.UsageError("--kind 'x': expected scenario or system"), 2),
    (errors.StateInvalid("journal.jsonl:3: not JSON"), 2),
    (TraceFormatError("t.json: not OTLP"), 2),
    (errors.StackUnavailable("etcd does not answer"), 3),
    (errors.RunFailed("a revert failed"), 4),
    (errors.RunLocked("another run holds the lock"), 5),
    (errors.Interrupted("SIGTERM"), 130),
    (errors.FaultError("inject refused"), 1),
    (errors.ChaosctlError("anything else on purpose"), 1),
    (KeyboardInterrupt(), 130),
    (RuntimeError("a bug"), 4),  # never 1: CI reads 1 as "an SLO failed"
])  # fmt: skip
def test_each_error_has_one_exit_code_from_the_one_table(error: BaseException, code: int) -> None:
    assert exit_code_for(error) == code


def test_the_error_classes_carry_no_exit_code_of_their_own() -> None:
    """The table in cli.py is the only place: no class attribute can disagree with it."""
    for cls in (errors.ChaosctlError, errors.ScenarioInvalid, errors.UsageError, errors.StackUnavailable,
                errors.RunFailed, errors.RunLocked, errors.Interrupted, TraceFormatError):
        assert "exit_code" not in vars(cls), cls
    assert set(EXIT_CODES) >= {errors.InputInvalid, errors.StackUnavailable, errors.RunFailed, errors.RunLocked}


def test_a_usage_error_is_not_an_invalid_scenario() -> None:
    assert not issubclass(errors.UsageError, errors.ScenarioInvalid)
    assert not issubclass(errors.StateInvalid, errors.ScenarioInvalid)
    with pytest.raises(errors.UsageError):  # an `except ScenarioInvalid` does not swallow it
        try:
            raise errors.UsageError("--min-coverage='150%': expected a fraction")
        except errors.ScenarioInvalid:
            pytest.fail("a usage error was caught as an invalid scenario")


def test_verdicts_map_pass_to_0_and_never_pass_otherwise() -> None:
    assert VERDICT_EXIT_CODES["pass"] == 0
    assert all(code != 0 for verdict, code in VERDICT_EXIT_CODES.items() if verdict != "pass")
    assert VERDICT_EXIT_CODES["error"] == exit_code_for(errors.RunFailed("x"))


def test_the_services_raise_their_own_errors_not_the_clis() -> None:
    from chaosctl.services.modelserver.cuda import select_gpu
    from chaosctl.services.registry.etcd import EtcdError

    assert not issubclass(ServiceError, errors.ChaosctlError) and issubclass(EtcdError, ServiceError)
    with pytest.raises(ServiceConfigInvalid, match="CHAOSCTL_GPU='bogus'"):
        select_gpu("bogus", 2**30, 4)
    with pytest.raises(ServiceDependencyMissing, match="CHAOSCTL_GPU=cuda but"):
        select_gpu("cuda", 2**30, 4, loader=lambda: None)


def test_the_service_entry_point_turns_its_errors_into_its_own_exit_status(tmp_path, monkeypatch, capsys) -> None:
    from chaosctl.services import __main__ as entry

    class FailingModule:
        @staticmethod
        def serve(name, topology, settings):  # noqa: ANN001, ANN205 - the shape of a service's serve()
            raise ServiceDependencyMissing("CHAOSCTL_GPU=cuda but no CUDA device")

    monkeypatch.setattr(entry.importlib, "import_module", lambda name: FailingModule)
    monkeypatch.setenv("CHAOSCTL_STATE_DIR", str(tmp_path))
    assert entry.main(["gateway", "--port-base", "24100"]) == 3
    assert "error: gateway: CHAOSCTL_GPU=cuda but no CUDA device" in capsys.readouterr().err
