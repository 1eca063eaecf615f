"""The reference services' own errors. The services are the system under test, not the CLI:
they never raise chaosctl's errors (errors.py); their entry point (`python -m chaosctl.services`)
turns these into its exit status."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a reference service raises on purpose. `exit_status`: what the
    service's process exits with when this error stops it (its own process, not chaosctl's)."""

    exit_status = 1


class ServiceConfigInvalid(ServiceError):
    """A service's configuration (a CHAOSCTL_* value it reads) is wrong."""

    exit_status = 2


class ServiceDependencyMissing(ServiceError):
    """Something the service needs is not there (a CUDA device asked for, a backend)."""

    exit_status = 3
