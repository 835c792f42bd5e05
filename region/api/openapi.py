"""The OpenAPI description of a region's REST routes, served at `/openapi.json` (GraphQL describes
itself). Hand-written and small: it documents the routes, their parameters and their coded errors,
and lets schemathesis fuzz them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from podium.http import json_response

_ERROR = {"$ref": "#/components/schemas/Error"}
_ADMIN: list[dict[str, list[str]]] = [{"admin": []}]


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "coded error (see docs/errors.md)", "content": {"application/json": {"schema": _ERROR}}}
            for s in statuses}


def _ok(description: str) -> dict[str, Any]:
    return {"200": {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}}


ENTRY = {
    "type": "object",
    "required": ["board", "player", "score", "achieved_at", "event_id"],
    "properties": {
        "board": {"type": "string"},
        "player": {"type": "string", "pattern": "^[A-Za-z0-9_.:@-]{1,64}$"},
        "score": {"type": "integer", "minimum": -(2**53), "maximum": 2**53},
        "achieved_at": {"type": "integer", "minimum": 0, "description": "Unix milliseconds"},
        "event_id": {"type": "string", "minLength": 1, "description": "at most ingest.event_id_len_max UTF-8 bytes"},
    },
}

_BOARD = {"name": "board", "in": "path", "required": True, "schema": {"type": "string"}}
_PLAYER = {"name": "player", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
           "description": "at most ingest.player_id_len_max UTF-8 bytes"}
_READ: list[dict[str, list[str]]] = [{}, {"player": []}]
_READ_ERRORS = _errors(400, 401, 404, 429, 503)
_ROW = {"type": "object", "required": ["rank", "player", "score", "achievedAt"], "properties": {
    "rank": {"type": "integer"}, "player": {"type": "string"}, "score": {"type": "integer"},
    "achievedAt": {"type": "integer", "description": "Unix milliseconds"}}}


def _between(name: str, default: int, high: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": "integer", "minimum": 0 if name != "first" else 1,
                                                   "default": default}, "description": f"at most {high}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}}


# The REST peer of the hot GraphQL reads (region/api/reads.py).
READ_PATHS: dict[str, Any] = {
    "/v1/boards/{board}/top": {"get": {
        "summary": "The board's first N entries (GraphQL `leaderboard(first:)`)", "security": _READ,
        "parameters": [_BOARD, _between("first", 10, "api.page_size_max")],
        "responses": {**_json({"type": "object", "required": ["board", "totalCount", "asOf", "entries"], "properties": {
            "board": {"type": "string"}, "totalCount": {"type": "integer"}, "asOf": {"type": "integer"},
            "entries": {"type": "array", "items": _ROW}}}, "entries in rank order"), **_READ_ERRORS}}},
    "/v1/boards/{board}/players/{player}": {"get": {
        "summary": "A player's rank and score (GraphQL `player { rank score }`); nulls without an entry",
        "security": _READ, "parameters": [_BOARD, _PLAYER],
        "responses": {**_json({"type": "object", "required": ["board", "player", "rank", "score"], "properties": {
            "board": {"type": "string"}, "player": {"type": "string"}, "rank": {"type": "integer", "nullable": True},
            "score": {"type": "integer", "nullable": True}}}, "rank and score"), **_READ_ERRORS}}},
    "/v1/boards/{board}/around/{player}": {"get": {
        "summary": "Entries around a player (GraphQL `around`); empty without an entry", "security": _READ,
        "parameters": [_BOARD, _PLAYER, _between("above", 5, "api.around_max"), _between("below", 5, "api.around_max")],
        "responses": {**_json({"type": "object", "required": ["board", "player", "asOf", "entries"], "properties": {
            "board": {"type": "string"}, "player": {"type": "string"}, "asOf": {"type": "integer"},
            "entries": {"type": "array", "items": _ROW}}}, "entries in rank order"), **_READ_ERRORS}}},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Podium region REST API", "version": "1",
             "description": "Score intake, board administration, health, and the hot reads (top N, a player's "
                            "rank, around a player) as the REST peer of GraphQL at /graphql (same limits, "
                            "auth and rate limits)."},
    "components": {
        "securitySchemes": {
            "admin": {"type": "http", "scheme": "bearer", "description": "an admin key"},
            "player": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                       "description": "a player token or an admin key: needed only for boards without public_read"},
            "signed": {"type": "apiKey", "in": "header", "name": "X-Podium-Signature",
                       "description": "HMAC-SHA256 over method, path, X-Podium-Timestamp and body (podium.signing), "
                                      "with X-Podium-Key naming the game server key"},
        },
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string", "enum": [
                    "BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "RATE_LIMITED",
                    "REBUILDING", "INTERNAL"]}, "message": {"type": "string"}, "retryAfter": {"type": "number"}}}}},
            "Entry": ENTRY,
            "Board": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "string"}, "operator": {"type": "string", "enum": ["best", "latest", "increment", "decrement"]},
                "order": {"type": "string", "enum": ["desc", "asc"]}, "score_min": {"type": "integer"},
                "score_max": {"type": "integer"}, "public_read": {"type": "boolean"}}},
        },
    },
    "paths": {
        "/v1/scores": {"post": {
            "summary": "Submit a signed batch of scores; each entry is answered on its own",
            "security": [{"signed": []}],
            "parameters": [
                {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "minLength": 1, "maxLength": 128}},
                {"name": "X-Podium-Key", "in": "header", "schema": {"type": "string"}},
                {"name": "X-Podium-Timestamp", "in": "header", "schema": {"type": "string"}},
                {"name": "wait", "in": "query", "schema": {"type": "boolean"}},
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["entries"],
                "properties": {"entries": {"type": "array", "items": ENTRY, "minItems": 1}}}}}},
            "responses": {**_ok("per-entry results and counts"), **_errors(400, 401, 409, 413, 503)},
        }},
        "/v1/admin/boards": {
            "get": {"summary": "Every board", "security": _ADMIN,
                    "responses": {**_ok("boards"), **_errors(401, 403)}},
            "post": {"summary": "Create a board", "security": _ADMIN,
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/Board"}}}},
                     "responses": {"201": {"description": "created"}, **_errors(400, 401, 403, 409, 413)}},
        },
        "/v1/admin/quarantine": {"get": {
            "summary": "A board's quarantined entries", "security": _ADMIN,
            "parameters": [{"name": "board", "in": "query", "required": True, "schema": {"type": "string"}},
                           {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                           {"name": "after", "in": "query", "schema": {"type": "string", "pattern": "^[0-9]+-[0-9]+$"},
                            "description": "the `next` of the previous page"}],
            "responses": {**_ok("entries, newest first, and `next` (null on the last page)"), **_errors(400, 401, 403, 404)}}},
        "/v1/admin/replication/{action}": {"get": {
            "summary": "Replication status (pause, resume and repair are POSTs)", "security": _ADMIN,
            "parameters": [{"name": "action", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": ["status", "pause", "resume", "repair"]}}],
            "responses": {**_ok("shipper state"), **_errors(400, 401, 403)}}},
        **READ_PATHS,
        "/healthz": {"get": {"summary": "Liveness", "responses": _ok("ok")}},
        "/readyz": {"get": {"summary": "Readiness (Redis reachable)",
                            "responses": {**_ok("ready"), "503": {"description": "not ready"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics",
                             "responses": {"200": {"description": "text exposition",
                                                   "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    },
}


async def openapi(request: Request) -> Response:
    return json_response(DOCUMENT)
