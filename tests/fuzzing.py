"""How hard the property-based tests fuzz: full strength under `make fuzz`, a share under `make test`.

Issue 10's bar is zero tracebacks over at least 10,000 generated inputs for each of the scenario
loader, the trace parser and the report writers: about 5 minutes of CPU in all. The hypothesis
profile "fuzz" (`make fuzz`, i.e. `pytest --hypothesis-profile=fuzz`) runs every property test at
the count it declares, seeded or derandomized as the test says, so that a full run is
reproducible. Any other profile (`make test`, CI) runs a tenth of each count, at least
MIN_EXAMPLES, drawn at random on every run (no seed, no derandomize): each strategy is still
drawn from on every run, successive runs try different inputs, and a failure prints its
(shrunk) falsifying example; with CI set, hypothesis' own "ci" profile also prints the
`@reproduce_failure` blob that replays it.

The profile is registered by tests/conftest.py (importing this module) before hypothesis'
pytest plugin loads the one named on the command line.
"""

from __future__ import annotations

from hypothesis import settings

PROFILE = "fuzz"
SHARE = 10
MIN_EXAMPLES = 100

settings.register_profile(PROFILE)  # the counts are each test's own: see examples()


def full_strength() -> bool:
    """True under the "fuzz" profile (also as the plugin derives it for --hypothesis-verbosity)."""
    name = settings.get_current_profile_name()
    return name == PROFILE or name.startswith(f"{PROFILE}-with-")


def examples(full: int) -> int:
    """The number of examples to run for a test whose full-strength count is `full`."""
    return full if full_strength() else min(full, max(MIN_EXAMPLES, full // SHARE))
