"""One call to a reference service's admin API, for every fault that drives one.

The GPU faults (`/admin/gpu/...`) and the request faults (`/admin/request-faults`) reach the
model servers and the gateway the same way: the install's admin token rides on the context's
HTTP client, a 401 means the stack was started with other secrets, and a service that refuses
the connection holds no fault state (it lived in its memory), which a revert counts as done.
"""

from __future__ import annotations

from typing import Any

import httpx

from chaosctl.errors import FaultError


def admin_base(comp: Any, label: str) -> str:
    """The admin API's base URL of a System component: its `admin_url`, else its `url`."""
    base = getattr(comp, "admin_url", None) or comp.url
    if base is None:
        raise FaultError(f"{label}: {comp.name!r} has no URL for its admin API")
    return str(base).rstrip("/")


def admin_call(http: httpx.Client, method: str, url: str, label: str, *, who: str,
               missing_ok: bool = False, **kw: Any) -> httpx.Response:  # fmt: skip
    """`method url`, or FaultError saying why not; `missing_ok`: a DELETE answered 404 is done."""
    try:
        resp = http.request(method, url, **kw)
    except httpx.HTTPError as exc:
        raise FaultError(f"{label}: admin API unreachable: {exc}") from exc
    if resp.status_code == 401:
        raise FaultError(f"{label}: {who} refused this install's admin token (401); "
                         "was the stack started with another --state-dir?")  # fmt: skip
    if resp.status_code >= 400 and not (missing_ok and method == "DELETE" and resp.status_code == 404):
        raise FaultError(f"{label}: {method} {httpx.URL(url).path} -> {resp.status_code} {resp.text.strip()[:200]}")
    return resp


def service_gone(exc: FaultError) -> bool:
    """The admin API refused the connection: the service is gone, and its fault state with it."""
    return isinstance(exc.__cause__, httpx.ConnectError)
