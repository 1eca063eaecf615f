"""chaosctl: chaos, observability and SLO testing for distributed AI serving stacks."""


def __getattr__(name: str) -> str:
    # The version lives in pyproject.toml only; read from the installed metadata on first use
    # (lazily: importlib.metadata costs ~0.1 s that most commands do not need).
    if name == "__version__":
        from chaosctl.setup.versions import chaosctl_version

        return chaosctl_version()
    raise AttributeError(f"module 'chaosctl' has no attribute {name!r}")
