"""chaosctl: chaos, observability and SLO testing for distributed AI serving stacks."""

__version__ = "0.1.0"
