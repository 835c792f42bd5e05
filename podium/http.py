"""HTTP helpers every tier shares: JSON responses, coded errors, bounded bodies, admin credentials,
the health, readiness and metrics answers."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from podium.errors import BadUserInput, Forbidden, Internal, PayloadTooLarge, PodiumError, Unauthenticated

if TYPE_CHECKING:
    from podium.breaker import Breakers
    from podium.tasks import Supervisor
    from podium.telemetry import Telemetry

log = logging.getLogger("podium.http")
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def error_response(exc: PodiumError) -> Response:
    retry = exc.http_status in (429, 503) or "retryAfter" in exc.extensions
    headers = {"Retry-After": str(max(1, round(float(exc.extensions.get("retryAfter", 1)))))} if retry else {}
    if isinstance(exc, PayloadTooLarge):
        headers["Connection"] = "close"   # what is left of the body is not read
    return json_response(exc.to_dict(), exc.http_status, headers or None)


# A refused body is still read (and dropped) up to this many bytes, so the client, which sends its
# whole body before reading the answer, gets the 413 instead of stalling on a full socket buffer.
REFUSED_BODY_DRAIN_BYTES_MAX = 16 * 1_048_576


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) once it exceeds `limit` bytes. The rest of a refused body
    is drained (bounded), and the response closes the connection."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > REFUSED_BODY_DRAIN_BYTES_MAX:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > REFUSED_BODY_DRAIN_BYTES_MAX:
            break
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        if declared and declared.isdigit():
            raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit}")
        raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """A request body as JSON, or a coded 400 (BAD_USER_INPUT) naming what is malformed."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadUserInput(f"malformed JSON: {exc}") from exc


async def read_json(request: Request, limit: int) -> Any:
    """`read_body` (bounded, 413 past `limit`) parsed by `parse_json`."""
    return parse_json(await read_body(request, limit))


STREAM_ID_RE = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
STREAM_PART_MAX = 2**64 - 1


def stream_page_args(request: Request, limit_max: int = 1000) -> tuple[int, str | None]:
    """`limit` (1..limit_max, default 100) and `after` (the `id` of the last row of the previous
    page: a stream id, unique, so paging never skips or repeats a row) of an admin list."""
    limit_s = request.query_params.get("limit", "100")
    if not limit_s.isdigit() or not 1 <= int(limit_s) <= limit_max:
        raise BadUserInput(f"limit must be between 1 and {limit_max}")
    after = request.query_params.get("after")
    if after is not None and not (STREAM_ID_RE.fullmatch(after)
                                  and all(int(part) <= STREAM_PART_MAX for part in after.split("-"))):
        raise BadUserInput("invalid cursor: 'after' is the id of the last row of the previous page")
    return int(limit_s), after


def check_admin(headers: Mapping[str, str], admin_keys: Iterable[str]) -> None:
    """Admin credentials travel in a header (never a cookie), compared in constant time."""
    auth = headers.get("authorization", "")
    given = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else headers.get("x-podium-admin-key", "")
    if not given:
        raise Unauthenticated("admin endpoints need 'Authorization: Bearer <admin key>'")
    if not any(hmac.compare_digest(given, k) for k in admin_keys):
        raise Forbidden("not an admin key")


async def podium_error(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: a coded Podium error becomes its documented status and body."""
    if not isinstance(exc, PodiumError):
        return await unexpected_error(request, exc)
    await drain_body(request)   # bounded; past the bound podium.http_drain closes the connection
    return error_response(exc)


async def drain_body(request: Request) -> None:
    """Reads (and drops) what a refused request has left of its body, bounded: a body left on the
    connection would be read as the start of the next request (and stall it), and a client that
    sends its whole body before reading the answer would never see the refusal."""
    drained = 0
    try:
        async for chunk in request.stream():
            drained += len(chunk)
            if drained > REFUSED_BODY_DRAIN_BYTES_MAX:
                return
    except Exception:  # noqa: BLE001 - already consumed, or the client left: nothing to drain
        return


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(Internal("internal error"))


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


def metrics_response(telemetry: Telemetry) -> Response:
    """Prometheus text exposition of this process's OpenTelemetry metrics."""
    return Response(telemetry.prometheus_text(), media_type=PROMETHEUS_TEXT)


def readiness(store_ok: bool, supervisor: Supervisor, breakers: Breakers,
              details: Mapping[str, Any] | None = None) -> Response:
    """Ready when the tier's Redis answers (`store_ok`, from its adapter's probe) and no supervised
    loop has given up; every loop's state and every circuit breaker's are listed (a loop backing off,
    or an open breaker of another dependency, is reported but does not unready the process), and
    `details` (e.g. the region's history backlog) as further fields."""
    failed = supervisor.failed()
    status = "ready" if store_ok and not failed else (
        "redis unreachable" if not store_ok else "loops failed: " + ", ".join(failed))
    return json_response({"status": status, "loops": supervisor.report(), "breakers": breakers.report(),
                          **(details or {})},
                         200 if store_ok and not failed else 503)
