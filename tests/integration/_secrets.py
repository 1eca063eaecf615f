"""Secrets for the services a test starts by hand (the stack gives its own the install's):
random per test session, all of them given, so that such a service never reads a secrets file."""

from __future__ import annotations

import secrets

from chaosctl.settings import SECRET_ENV

VALUES = {name: secrets.token_urlsafe(32) for name in SECRET_ENV}
ENV = {SECRET_ENV[name]: value for name, value in VALUES.items()}
SERVICE = {"Authorization": f"Bearer {VALUES['service_token']}"}  # registry writes, model-server routes
ADMIN = {"X-Admin-Token": VALUES["admin_token"]}  # model-server admin API
