"""The reference AI stack's services: registry API, gateway, model servers.

Each service package has an `app` module with
`serve(name: str, topology: Topology, settings: Settings) -> None`, which builds the
ASGI app and runs it on 127.0.0.1 until SIGTERM. `python -m chaosctl.services NAME
--port-base N` dispatches to it (see `__main__.py`).
"""
