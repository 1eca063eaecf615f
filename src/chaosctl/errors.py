"""The one error tree of chaosctl. The CLI maps each class to an exit code in one place."""

from __future__ import annotations


class ChaosctlError(Exception):
    """Base of every error chaosctl raises on purpose."""

    exit_code = 1


class ScenarioInvalid(ChaosctlError):
    """A scenario file or a command-line usage is wrong. Nothing was executed."""

    exit_code = 2

    def __init__(self, messages: list[str] | str) -> None:
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("\n".join(self.messages))


class UsageError(ScenarioInvalid):
    """A command-line argument is wrong."""


class SystemInvalid(ScenarioInvalid):
    """A System file is wrong (or does not fit the scenario run against it). Nothing was executed."""


class StateInvalid(UsageError):
    """A file in the state folder (fault journal, stack state, pid file) is malformed: named
    with its line, exit 2; chaosctl never guesses what a corrupt journal meant."""


class StackUnavailable(ChaosctlError):
    """The stack or an observability backend could not be reached or started."""

    exit_code = 3


class FaultError(ChaosctlError):
    """A fault could not be injected, verified or reverted."""

    exit_code = 1


class VerdictFailed(ChaosctlError):
    """An SLO or trace expectation failed, or the run aborted."""

    exit_code = 1


class Interrupted(ChaosctlError):
    """The run was interrupted by SIGINT/SIGTERM (after every fault was reverted)."""

    exit_code = 130


class RunFailed(ChaosctlError):
    """The run itself failed unexpectedly (verdict `error`): every fault was reverted and
    the reports were written with what was gathered; or a revert failed (`chaosctl recover`)."""

    exit_code = 4


class RunLocked(ChaosctlError):
    """Another chaosctl run holds the run lock of this state dir; nothing was done."""

    exit_code = 5
