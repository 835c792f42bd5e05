"""Starlette endpoints of trending: signed event batches (`POST /v1/events`, signed and replay-
guarded exactly like `POST /v1/scores`) and the admin stream declarations."""

from __future__ import annotations

import hashlib

from podium.region.api.http import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_LEN_MAX, require_admin, service_of
from podium.region.trending.decode import json_value
from podium.region.trending.service import TrendingService
from podium.region.trending.streams import StreamSpec
from starlette.requests import Request
from starlette.responses import Response

from podium.errors import BadUserInput, Unavailable
from podium.http import json_response, read_body
from podium.signing import verify

ADMIN_BODY_BYTES_MAX = 65_536


def trending_of(request: Request) -> TrendingService:
    trending = service_of(request).trending
    if trending is None:
        raise Unavailable("trending is not running in this region")
    return trending


async def post_events(request: Request) -> Response:
    service = service_of(request)
    trending = trending_of(request)
    limits = service.settings.trending
    body = await read_body(request, limits.body_bytes_max)
    verified = verify(request.headers, request.method, request.url.path, body, service.settings.game_server_keys,
                      service.clock.now_ms(), service.settings.ingest.signature_window_ms)
    await service.replay_guard.check(verified)
    idem_key = request.headers.get(IDEMPOTENCY_HEADER)
    if idem_key is not None and not 0 < len(idem_key) <= IDEMPOTENCY_KEY_LEN_MAX:
        raise BadUserInput(f"Idempotency-Key must be 1-{IDEMPOTENCY_KEY_LEN_MAX} characters")
    # the body's digest identifies the request for its Idempotency-Key only (hashing 1 MB costs ~1 ms)
    digest = hashlib.sha256(body).hexdigest() if idem_key is not None else None
    return json_response(await trending.submit(None, scope=verified.key_id, idem_key=idem_key, body=body,
                                               body_digest=digest))


async def streams_endpoint(request: Request) -> Response:
    require_admin(request)
    trending = trending_of(request)
    if request.method == "GET":
        streams = await trending.streams.refresh()
        return json_response({"streams": [s.to_dict() for _, s in sorted(streams.items())]})
    spec = StreamSpec.from_dict(json_value(await read_body(request, ADMIN_BODY_BYTES_MAX)), trending.limits)
    return json_response({"stream": (await trending.streams.create(spec)).to_dict()}, 201)
