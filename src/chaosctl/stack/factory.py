"""The backend named by the settings: the one module that knows every implementation.

It sits above `stack.local` and `stack.docker`, which import only the interface in
`stack.backend`, so the interface and its implementations do not import each other
(the `stack-backends` contract in .importlinter).
"""

from __future__ import annotations

from chaosctl.errors import UsageError
from chaosctl.settings import Settings
from chaosctl.stack.backend import Backend, Reporter


def get_backend(settings: Settings, reporter: Reporter | None = None) -> Backend:
    """The backend named by `settings.backend`; `reporter` sees the local backend's progress."""
    if settings.backend == "local":
        import time

        from chaosctl.stack.components import probe
        from chaosctl.stack.local import LocalBackend
        from chaosctl.stack.procs import ProcessLauncher

        # The real clock, processes and health probes (unit tests give LocalBackend fakes instead).
        return LocalBackend(settings, reporter=reporter, clock=time.monotonic, sleep=time.sleep,
                            launcher=ProcessLauncher(time.monotonic, time.sleep), probe=probe)
    if settings.backend == "docker":
        try:
            from chaosctl.stack.docker import DockerBackend  # type: ignore[import-not-found]
        except ImportError as exc:
            raise UsageError("backend 'docker' is not available in this build") from exc
        return DockerBackend(settings)
    raise UsageError(f"unknown backend {settings.backend!r} (expected 'local' or 'docker')")
