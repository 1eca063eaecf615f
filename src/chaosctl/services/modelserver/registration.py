"""`/admin/registration`: the autoscaler's hold on a replica's registry record (admin token).

A replica starts held (it trains and warms up unregistered); the autoscaler releases it once
its warm-up inferences passed, and holds it again (deregistering) before it drains and stops it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from chaosctl.services.modelserver.agent import RegistryAgent


def registration_router(agent: RegistryAgent) -> APIRouter:
    router = APIRouter(prefix="/admin/registration")

    def state() -> dict[str, Any]:
        return {"held": agent.held, "registered": sorted(agent.registered)}

    @router.get("")
    async def show() -> dict[str, Any]:
        return state()

    @router.post("")
    async def release() -> dict[str, Any]:
        if agent.engine.health() not in ("ready", "saturated"):
            raise HTTPException(409, f"not warm: {agent.engine.health()}")
        await agent.release()
        return state()

    @router.delete("")
    async def hold() -> dict[str, Any]:
        await agent.hold()
        return state()

    return router
