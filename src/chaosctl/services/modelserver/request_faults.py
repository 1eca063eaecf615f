"""The model server's request-scoped faults: the shared rules (`services.request_faults`)
applied to predict calls once the version is known, before the batch is queued.

`install(app, engine, telemetry, admin_token)` adds `/admin/request-faults` (admin
token) and returns the dependency the predict route runs after its credential check,
so an anonymous caller still gets 401, never a fault.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request

from chaosctl.services.request_faults import RequestAborted, RequestFacts, RequestFaults, admin_router


def install(app: FastAPI, engine: Any, telemetry: Any, admin_token: str) -> Callable[..., Awaitable[None]]:
    faults = RequestFaults(telemetry.registry)
    app.state.request_faults = faults
    app.include_router(admin_router(faults, admin_token))

    async def request_faults(request: Request, model: str) -> None:
        if not faults.book.rules():
            return  # the common case costs nothing (no body re-read)
        facts = RequestFacts.of(request.url.path, request.headers, model, _version(engine, model, await _requested(request)))
        try:
            await faults.apply(facts)
        except RequestAborted as exc:
            raise HTTPException(exc.status, exc.detail, headers=exc.headers) from None

    return request_faults


async def _requested(request: Request) -> str | None:
    """The body's `version` (FastAPI has read and cached the body already)."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    version = body.get("version") if isinstance(body, dict) else None
    return version if isinstance(version, str) else None


def _version(engine: Any, model: str, requested: str | None) -> str | None:
    """The version that will answer: the one asked for, else the server's stable one."""
    if requested is not None:
        return requested
    try:
        return str(engine.resolve(model, None).version)
    except Exception:  # noqa: BLE001 - unknown or still loading: the route answers that, not us
        return None
