"""Entry point: `python -m chaosctl.services NAME --port-base N`.

NAME is `registry`, `gateway` or a model server name of `topology.MODEL_SERVERS`.
Dispatches to `chaosctl.services.<package>.app.serve(name, topology, settings)`;
secrets (CHAOSCTL_JWT_SECRET, CHAOSCTL_ADMIN_TOKEN, CHAOSCTL_SERVICE_TOKEN, ...) arrive in the
environment from the stack and reach the service through `Settings`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from chaosctl.errors import UsageError
from chaosctl.services.errors import ServiceError
from chaosctl.settings import load_settings
from chaosctl.stack.topology import MODEL_SERVERS, PIPELINE_STAGES, REPLICAS, Topology


def package_for(name: str) -> str | None:
    """The service package that runs component `name`, or None if it is no service."""
    if name in ("registry", "gateway", "autoscaler", "analyser"):
        return name
    if name in {r.name for r in REPLICAS}:  # the autoscaler's replicas: the same model-server code
        return "modelserver"
    if name in {m.name for m in MODEL_SERVERS}:
        return "modelserver"
    if name in PIPELINE_STAGES:
        return "pipeline"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaosctl.services", description=__doc__)
    parser.add_argument("name", help="registry, gateway or a model server name")
    parser.add_argument("--port-base", type=int, default=None, help="topology port base")
    args = parser.parse_args(argv)
    package = package_for(args.name)
    if package is None:
        names = ", ".join(["registry", "gateway", "autoscaler", *(m.name for m in MODEL_SERVERS)])
        print(f"error: unknown service {args.name!r}; expected one of: {names}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"chaosctl.services.{package}.app")
    try:
        settings = load_settings(port_base=args.port_base)  # refuses weak or published secrets
    except UsageError as exc:  # the settings are chaosctl's: a wrong one is a configuration error
        print(f"error: {args.name}: {exc}", file=sys.stderr)
        return 2
    try:
        module.serve(args.name, Topology(settings.port_base), settings)
    except ServiceError as exc:  # e.g. CHAOSCTL_GPU=cuda without a device: a clear line, no traceback
        print(f"error: {args.name}: {exc}", file=sys.stderr)
        return exc.exit_status
    return 0


if __name__ == "__main__":
    sys.exit(main())
