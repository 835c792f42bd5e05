"""The HTTP side of compiled plans (`podium.gql.compiled`): a GraphQL POST or GET whose document is
prepared, valid and within its cost, and whose operation compiles, is answered from the plan
without Strawberry's request parsing, execution context or graphql-core's field machinery.

Everything that decides what a request may see stays where it is: rate limits, the response cache
and ETags are around the view (the region's one-pass GraphQL entry, or middleware); auth, the read cache, the in-memory tops, Cache-Control
and consistency labels are in the resolvers the plan calls. This module only takes the shortest
way to a success: the body is read once (with the view's limit) and kept on the request, so that
when the plan gives up — a hostile or unusual request, an error of any kind — the general path
reads the same bytes and answers exactly as it would have."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from graphql import OperationDefinitionNode
from podium.gql.compiled import Plan, PlanCompiler, Unplannable
from podium.gql.compiled_leaves import Fallback
from podium.gql.fast_path import FastPath, operation_timing
from podium.http import read_body

log = logging.getLogger("podium.gql.compiled")
_BODY_KEYS = frozenset({"query", "variables", "operationName", "extensions"})


class CompiledPlans:
    """Plans for one view's schema; each is kept on its prepared operation (evicted with it)."""

    def __init__(self, fast: FastPath, compiler: PlanCompiler) -> None:
        self.fast = fast
        self.compiler = compiler
        self.served = 0      # requests answered by a plan
        self.fell_back = 0   # requests a plan gave to the general path after starting

    def plan(self, query: str | None, operation_name: str | None,
             variables: dict[str, Any] | None) -> tuple[Plan, OperationDefinitionNode] | None:
        """The plan of a prepared, valid query within its cost (None: not one, or unplannable)."""
        planned = self.fast.plan(query, operation_name, variables, True)
        if planned is None:
            return None
        prepared, operation = planned
        if operation_name in prepared.plans:
            known: Plan | None = prepared.plans[operation_name]
            return None if known is None else (known, operation)
        try:
            plan: Plan | None = self.compiler.compile(operation)
        except Unplannable as exc:
            log.debug("not planned: %s", exc)
            plan = None
        if operation_name is None or operation_name in prepared.operation_names:
            prepared.plans[operation_name] = plan
        return None if plan is None else (plan, operation)


Fields = tuple[str | None, dict[str, Any] | None, str | None, dict[str, Any] | None]


async def _post_fields(request: Request, body_bytes_max: int) -> Fields | None:
    """query, variables, operationName and extensions of a plain JSON POST, or None."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        return None
    body = getattr(request, "_body", None)   # the one-pass entry has read it already
    if type(body) is not bytes or len(body) > body_bytes_max:
        body = await read_body(request, body_bytes_max)   # a 413 here is the general path's 413
        request._body = body   # Starlette replays it to the general path's read
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or not data.keys() <= _BODY_KEYS:
        return None
    query, variables = data.get("query"), data.get("variables")
    operation_name, extensions = data.get("operationName"), data.get("extensions")
    if not (isinstance(query, str | None) and isinstance(variables, dict | None)
            and isinstance(operation_name, str | None) and isinstance(extensions, dict | None)):
        return None
    return query, variables, operation_name, extensions


def _json_param(text: str | None) -> dict[str, Any] | None | bool:
    """A GET parameter holding a JSON object as Strawberry reads it (absent: None); False when the
    general path would refuse or treat it otherwise (empty, malformed, not an object, or an object
    whose `operationName` the view's shape check refuses)."""
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    if type(value) is not dict or not isinstance(value.get("operationName"), str | None):
        return False
    return value


def _get_fields(view: Any, request: Request) -> Fields | None:
    """The same four fields of a GET (query parameters; the last of a repeated one, as Strawberry
    reads them), or None."""
    if not view.allow_queries_via_get:
        return None
    params = request.query_params
    variables, extensions = _json_param(params.get("variables")), _json_param(params.get("extensions"))
    if variables is False or extensions is False:
        return None
    assert not isinstance(variables, bool) and not isinstance(extensions, bool)
    return params.get("query"), variables, params.get("operationName"), extensions


async def serve_compiled(view: Any, plans: CompiledPlans, request: Request, body_bytes_max: int) -> Response | None:
    """The response to a plain JSON POST or a GET of a planned query, or None: the general path
    answers."""
    if view._get_stream_transport_from_headers(request.headers) is not None:
        return None   # multipart / event-stream responses are Strawberry's
    fields = (_get_fields(view, request) if request.scope["method"] == "GET"
              else await _post_fields(request, body_bytes_max))
    if fields is None:
        return None
    query, variables, operation_name, extensions = fields
    query = view.persisted.resolve(query, extensions)   # its refusals are the general path's
    planned = plans.plan(query, operation_name, variables)
    if planned is None:
        return None
    plan, operation = planned
    try:
        coerced = plan.coerce(variables or {})
    except Fallback:
        return None
    sub_response = await view.get_sub_response(request)
    context = await view.get_context(request, response=sub_response)
    root_value = await view.get_root_value(request)
    try:
        with operation_timing(context, operation_name, operation):
            result = await plan.execute(coerced, context, root_value)
    except Exception:  # noqa: BLE001 - every error is the general path's to report, with its codes
        plans.fell_back += 1
        return None
    plans.served += 1
    response = Response(orjson.dumps({"data": result}), status_code=200, media_type="application/json")
    response.headers.raw.extend(sub_response.headers.raw)
    if sub_response.status_code:
        response.status_code = sub_response.status_code
    return response
