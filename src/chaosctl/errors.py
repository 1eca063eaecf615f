"""The one error tree of chaosctl. Each class says what went wrong; which exit code that
becomes is decided in one table in the CLI (`cli.EXIT_CODES`), nowhere else."""

from __future__ import annotations


class ChaosctlError(Exception):
    """Base of every error chaosctl raises on purpose."""


class InputInvalid(ChaosctlError):
    """Something chaosctl was given is wrong (a file, an argument, a setting). Nothing was executed.
    `messages`: one line per problem, each naming the input (FILE:LINE:COL where there is one)."""

    def __init__(self, messages: list[str] | str) -> None:
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("\n".join(self.messages))


class ScenarioInvalid(InputInvalid):
    """A scenario file is wrong. Nothing was executed."""


class UsageError(InputInvalid):
    """A command-line argument or a CHAOSCTL_* setting is wrong (not a kind of invalid scenario)."""


class SystemInvalid(ScenarioInvalid):
    """A System file is wrong (or does not fit the scenario run against it). Nothing was executed."""


class StateInvalid(InputInvalid):
    """A file in the state folder (fault journal, stack state, pid file) is malformed: named
    with its line; chaosctl never guesses what a corrupt journal meant."""


class StackUnavailable(ChaosctlError):
    """The stack or an observability backend could not be reached or started."""


class FaultError(ChaosctlError):
    """A fault could not be injected, verified or reverted."""


class VerdictFailed(ChaosctlError):
    """An SLO or trace expectation failed, or the run aborted."""


class Interrupted(ChaosctlError):
    """The run was interrupted by SIGINT/SIGTERM (after every fault was reverted)."""


class RunFailed(ChaosctlError):
    """The run itself failed unexpectedly (verdict `error`): every fault was reverted and
    the reports were written with what was gathered; or a revert failed (`chaosctl recover`)."""


class RunLocked(ChaosctlError):
    """Another chaosctl run holds the run lock of this state dir; nothing was done."""
