"""The GraphQL endpoint every tier serves: Strawberry's ASGI view with hostile input refused early.

- bodies are read up to `api.graphql_body_bytes_max` (413 beyond), decoded strictly (orjson:
  invalid UTF-8, lone surrogates, nesting deeper than 1024 and numbers beyond a double are 400);
- a body must be a JSON object whose `query` is a string and `operationName` a string or null;
- subscriptions run over websockets only (a subscription sent by HTTP is 400);
- a request may name its document by hash (automatic persisted queries, `podium.gql.persisted`);
- a prepared (cached, valid) query or mutation runs on graphql-core directly (`podium.gql.fast_path`), or,
  when the view names the resolvers it may call and the operation compiles, as a compiled plan
  (`podium.gql.compiled`), and every response is encoded once by orjson;
- every refusal is a GraphQL-shaped JSON body with `extensions.code`, never plain text or a 500;
- a result whose every error is a store outage (`UNAVAILABLE`, `REBUILDING`) is a 503 with
  Retry-After (the same GraphQL body), so clients and proxies retry it like any other outage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException, StarletteRequestAdapter
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.schema import BaseSchema, Schema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from podium.errors import PersistedQueryNotFound, PodiumError
from podium.gql.compiled import PlanCompiler
from podium.gql.compiled_view import CompiledPlans, serve_compiled
from podium.gql.fast_path import FastPath, prepared_factory
from podium.gql.persisted import PersistedQueries
from podium.gql.ws_handlers import LegacyWSHandler, TransportWSHandler
from podium.http import drain_body, read_body

_CODES = {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND", 429: "RATE_LIMITED"}


def graphql_error_response(message: str, code: str, status: int, extensions: dict[str, Any] | None = None,
                           headers: dict[str, str] | None = None) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code, **(extensions or {})}}]}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _check_request_shape(data: object) -> None:
    """What Strawberry assumes of a decoded body (it calls `.get` on it)."""
    items = data if isinstance(data, list) else [data]
    for item in items:
        if not isinstance(item, dict):
            raise HTTPException(400, "the body must be a JSON object: {\"query\": ..., \"variables\": {...}}")
        if not isinstance(item.get("operationName"), str | None):
            raise HTTPException(400, "operationName must be a string or null")


_OUTAGE_CODES = frozenset({"UNAVAILABLE", "REBUILDING"})


def store_outage_status(response: Response) -> Response:
    """A 200 whose errors are all store outages becomes 503 + Retry-After (the largest `retryAfter`
    asked, at least 1 s); partial data stays in the body. Other answers are returned untouched (the
    byte test skips the JSON parse on the success path)."""
    body = getattr(response, "body", b"")
    if response.status_code != 200 or not (b'"UNAVAILABLE"' in body or b'"REBUILDING"' in body):
        return response
    doc = orjson.loads(body)
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not errors or any((e.get("extensions") or {}).get("code") not in _OUTAGE_CODES for e in errors):
        return response
    retry = max(float((e.get("extensions") or {}).get("retryAfter", 1)) for e in errors)
    response.status_code = 503
    response.headers["Retry-After"] = str(max(1, round(retry)))
    return response


def errors_uncached(response: Response) -> Response:
    """A 200 that carries errors keeps no Cache-Control a resolver set: whether a sibling root
    field's cache hint landed before an error nulled the data depends on timing, and an error
    must never be served from a cache as a public answer. (A raw `,"errors":[` cannot occur inside
    a JSON string, where quotes are escaped.)"""
    if response.status_code != 200 or "cache-control" not in response.headers:
        return response   # nothing to drop: no body scan
    body = getattr(response, "body", b"")
    if b',"errors":[' in body or body.startswith(b'{"errors":['):
        del response.headers["cache-control"]
    return response


class PodiumGraphQL(GraphQL[dict[str, Any], None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, schema: BaseSchema, *, body_bytes_max: int, connection_init_wait_ms: int,
                 max_subscriptions_per_connection: int | None = None,
                 persisted: PersistedQueries | None = None, fast_path: bool = True,
                 planned_resolvers: frozenset[str] = frozenset()) -> None:
        self.persisted = persisted or PersistedQueries(0)
        self.fast_path = _fast_path_of(schema) if fast_path else None
        # compiled plans need the fast path's guard, and a list of resolvers they may call
        self.plans = (CompiledPlans(self.fast_path, PlanCompiler(self.fast_path.schema, planned_resolvers))
                      if self.fast_path is not None and planned_resolvers else None)
        self.body_bytes_max = body_bytes_max
        super().__init__(schema, connection_init_wait_timeout=timedelta(milliseconds=connection_init_wait_ms),
                         max_subscriptions_per_connection=max_subscriptions_per_connection)
        limit = body_bytes_max

        class BoundedRequestAdapter(StarletteRequestAdapter):
            async def get_body(self) -> bytes:
                return await read_body(self._request, limit)

        self.request_adapter_class = BoundedRequestAdapter

    def encode_json(self, data: object) -> str:
        # str, not bytes: Strawberry's websocket adapter sends bytes as binary frames
        return orjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)   # its JSONDecodeError is a json.JSONDecodeError: Strawberry's 400

    def parse_json(self, data: str | bytes) -> Any:
        """HTTP bodies and GET `variables` (websocket messages are checked by their handlers)."""
        decoded = super().parse_json(data)
        _check_request_shape(decoded)
        return decoded

    def should_render_graphql_ide(self, request: Any) -> bool:
        # a persisted GET carries its document as a hash in `extensions`, not as `query`
        return super().should_render_graphql_ide(request) and request.query_params.get("extensions") is None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        response = await self.respond(request)
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        """The answer to one HTTP request, not yet sent (the one-pass GraphQL entry sends it itself)."""
        try:
            planned = (await serve_compiled(self, self.plans, request, self.body_bytes_max)
                       if self.plans is not None and request.scope["method"] in ("POST", "GET") else None)
            response = errors_uncached(store_outage_status(planned if planned is not None else await self.run(request)))
        except HTTPException as exc:
            response = graphql_error_response(exc.reason, _CODES.get(exc.status_code, "BAD_USER_INPUT"),
                                              exc.status_code)
        except PodiumError as exc:
            headers = ({"Retry-After": str(max(1, round(float(exc.extensions["retryAfter"]))))}
                       if "retryAfter" in exc.extensions else {})
            if isinstance(exc, PersistedQueryNotFound):   # a 200 no cache may keep: the client registers next
                headers = {"Cache-Control": "private, no-store"}
            response = graphql_error_response(exc.message, exc.code, exc.http_status,
                                              exc.extensions, headers)
        if response.status_code >= 400:
            await drain_body(request)
            response.headers["Connection"] = "close"
        return response

    async def execute_single(self, request: Request, request_adapter: AsyncHTTPRequestAdapter,
                             sub_response: Response, context: Any, root_value: Any,
                             request_data: GraphQLRequestData) -> ExecutionResult:
        # Strawberry allows subscriptions over POST/GET (for its multipart protocol, unused here);
        # an HTTP response cannot carry a stream, so such an operation is the caller's mistake.
        allowed = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        if not self.allow_queries_via_get and request_adapter.method == "GET":
            allowed = allowed - {OperationType.QUERY}
        query = self.persisted.resolve(request_data.query, request_data.extensions)
        if self.fast_path is not None:
            fast = await _run_fast(self.fast_path, query, request_data, OperationType.QUERY in allowed,
                                   OperationType.MUTATION in allowed, context, root_value)
            if fast is not None:
                return fast
        try:
            return await self.schema.execute(
                query, root_value=root_value, variable_values=request_data.variables,
                context_value=context, operation_name=request_data.operation_name,
                allowed_operation_types=allowed, operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            raise HTTPException(400, f"{exc.operation_type.value} operations are not served over HTTP "
                                     f"{request_adapter.method}" + (" (use a websocket)" if exc.operation_type
                                                                    is OperationType.SUBSCRIPTION else "")) from exc
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "no GraphQL query found in the request") from exc


def _fast_path_of(schema: BaseSchema) -> FastPath | None:
    """The fast path when the schema has an operation cache (it only runs prepared documents)."""
    guard = prepared_factory(schema) if isinstance(schema, Schema) else None
    return FastPath(schema, guard) if isinstance(schema, Schema) and guard is not None else None


async def _run_fast(fast: FastPath, query: str | None, request_data: GraphQLRequestData, queries_allowed: bool,
                    mutations_allowed: bool, context: Any, root_value: Any) -> ExecutionResult | None:
    """The fast path's result, or None when the request is not a prepared query or mutation
    (general path)."""
    planned = fast.plan(query, request_data.operation_name, request_data.variables, queries_allowed,
                        mutations_allowed)
    if planned is None:
        return None
    return await fast.run(*planned, operation_name=request_data.operation_name, variables=request_data.variables,
                          context=context, root_value=root_value, operation_extensions=request_data.extensions)
