"""The 422 answer every reference service gives for a body that does not validate.

FastAPI's default echoes each bad input back; an input may hold NaN or infinity, which
JSON cannot carry, so the default answer itself failed (a 500 for a client's mistake).
"""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import Request


async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """Where and why, without echoing the input (it is the client's, and may not be JSON)."""
    errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
              for e in exc.errors()]  # fmt: skip
    return JSONResponse({"detail": errors}, status_code=422)
