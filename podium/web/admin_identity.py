"""Who an admin is, for the audit log: an admin key is named by a fingerprint (never the key), an
admin JWT by its subject.

An admin JWT is a token signed like the player tokens (`jwt_secret` / `jwt_public_key`) whose
`podium_role` claim is `admin`. Credentials travel only in headers (`Authorization: Bearer …` or
`X-Podium-Admin-Key`), never in cookies, so a cross-site page cannot act with them (no CSRF)."""

from __future__ import annotations

import hashlib
from typing import Any

import jwt

from podium.config import Settings

ADMIN_ROLE_CLAIM = "podium_role"
ADMIN_ROLE = "admin"
JWT_LEEWAY_S = 30


def key_name(key: str) -> str:
    """A stable, non-secret name for an admin key: enough to tell keys apart in the audit log."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:10]


def jwt_admin_name(claims: dict[str, Any]) -> str | None:
    """The audit name of a decoded token's holder if the token grants admin, else None."""
    if claims.get(ADMIN_ROLE_CLAIM) != ADMIN_ROLE:
        return None
    return f"jwt:{claims.get('sub')}"


def admin_from_jwt_sync(token: str, settings: Settings) -> str | None:
    """For REST admin routes: an admin JWT checked against a locally held key (secret or public
    key; a JWKS URL needs network I/O and is only consulted by the GraphQL path). None when the
    token is not a valid admin token."""
    key = settings.jwt_public_key or settings.jwt_secret
    if not key or token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(token, key, algorithms=settings.jwt_algorithms, leeway=JWT_LEEWAY_S,
                            options={"require": ["sub", "exp"]})
    except jwt.InvalidTokenError:
        return None
    return jwt_admin_name(claims)
