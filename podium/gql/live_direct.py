"""Live subscriptions handed straight to the fan-out as push sinks: no resolver, no generator and
no task left running per operation.

On the live path (`podium.gql.live_subscribe`) a subscription still ran graphql-core's `subscribe`
(an execution context, argument coercion through Strawberry's resolver wrappers), the resolver's
async generator, the fan-out's generator and `deliver`, and kept that chain of coroutines and its
task suspended for the subscription's whole life, only to wait for the socket to close. At a
connect storm of 10,000 subscribers that was a third of the server's CPU (py-spy). Here, for an
operation the live path accepts (cached, valid, one known root field, cost within the limit), what
is derived from the document is kept once per operation node (`LiveDirect.ops_max`, least recently
used out): the root field, its definition, the printed shape. Per socket what is left is the
variables' coercion, the field's opener (the resolver's own checks: board, authorization, the
fan-out's admission and limits), the first frame (shared per update and shape through the payload
cache) and a `PushSink` attached to the fan-out. The operation is then a `LiveOperation` held by the
protocol handler, closed by `complete`, by the socket's end or by the fan-out.

Whatever is unusual answers through the general path, decided before anything is sent: variables
that do not coerce, a directive on the root field, an opener that refuses (its error is reported
by the general path, which runs the same checks again), a first payload with errors, a socket
without a raw writer, an operation whose span is exported or joins a trace."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql.execution.values import get_argument_values, get_variable_values
from opentelemetry import trace

from graphql import DocumentNode, FieldNode, GraphQLField, GraphQLSchema, OperationDefinitionNode, print_ast
from podium.fanout import FanOut, Held, PayloadCache
from podium.fanout_push import PushSink, Socket
from podium.gql.live_fast import render_payload, shape_of
from podium.gql.live_subscribe import Plan
from podium.gql.ws_raw import frame

OPS_MAX = 1_000  # operation nodes whose field, definition and printed shape are kept
ARGUMENTS_MAX = 256  # per operation: variables (as sorted JSON) whose coerced arguments are kept


@dataclass(frozen=True, slots=True)
class Opened:
    """A subscriber the fan-out counts (`held`), with what renders its frames."""

    held: Held
    hub: FanOut
    to_object: Callable[[Any], object]  # an update -> the GraphQL object its selection runs over
    cache: PayloadCache


# (context, coerced arguments) -> a counted subscriber; raises what the resolver would raise
Opener = Callable[[Any, dict[str, Any]], Awaitable[Opened]]


@dataclass(frozen=True, slots=True)
class _Operation:
    node: OperationDefinitionNode
    field: FieldNode
    definition: GraphQLField
    opener: Opener
    document: DocumentNode  # the operation with the document's fragments (what a payload runs)
    printed: str
    name: str | None
    # the variables' sorted JSON -> the field's coerced arguments, least recently used out: a
    # storm of subscribers to a few boards coerces each board's variables once, not per socket
    # (graphql-core's variable and argument coercion was ~2.5% of a connect)
    arguments: OrderedDict[str, dict[str, Any]]


class LiveOperation:
    """One started operation: its sink is written by the fan-out's tick; `close()` (idempotent)
    detaches it, stops the fan-out counting it and records the operation's latency sample."""

    __slots__ = ("closed", "name", "opened", "sink", "started", "telemetry")

    def __init__(self, opened: Opened, sink: PushSink, telemetry: Any, name: str) -> None:
        self.opened = opened
        self.sink = sink
        self.telemetry = telemetry
        self.name = name
        self.started = time.perf_counter()
        self.closed = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.opened.hub.detach(self.opened.held.first, self.sink)
        self.opened.held.close()
        self.sink.end()
        if self.telemetry is not None:
            self.telemetry.request_latency.record(
                (time.perf_counter() - self.started) * 1000, {"operation": self.name, "type": "subscription"}
            )


class LiveDirect:
    """Starts accepted live operations as push sinks; `openers` by root field name."""

    def __init__(
        self,
        schema: GraphQLSchema,
        openers: dict[str, Opener],
        ops_max: int = OPS_MAX,
        arguments_max: int = ARGUMENTS_MAX,
    ) -> None:
        if schema.subscription_type is None:
            raise ValueError("the schema has no Subscription type")
        self.schema = schema
        self.openers = openers
        self.ops_max = max(1, ops_max)
        self.arguments_max = max(0, arguments_max)
        self._ops: OrderedDict[int, _Operation] = OrderedDict()
        self.started = 0  # operations started here (tests check the path is taken)

    def _operation(self, plan: Plan) -> _Operation | None:
        prepared, node = plan
        known = self._ops.get(id(node))
        if known is not None and known.node is node:
            self._ops.move_to_end(id(node))
            return known
        field = node.selection_set.selections[0]
        assert isinstance(field, FieldNode)  # LiveSubscribe.plan accepts one field and nothing else
        opener = self.openers.get(field.name.value)
        subscription = self.schema.subscription_type
        definition = subscription.fields.get(field.name.value) if subscription is not None else None
        if opener is None or definition is None or field.directives:
            return None
        fragments = [d for d in prepared.document.definitions if not isinstance(d, OperationDefinitionNode)]
        document = DocumentNode(definitions=(node, *fragments))
        op = _Operation(
            node,
            field,
            definition,
            opener,
            document,
            print_ast(document),
            node.name.value if node.name else None,
            OrderedDict(),
        )
        self._ops[id(node)] = op
        while len(self._ops) > self.ops_max:
            self._ops.popitem(last=False)
        return op

    async def open(
        self,
        plan: Plan,
        variables: dict[str, Any] | None,
        context: Any,
        socket: Socket,
        prefix: str,
        operation_name: str | None,
    ) -> LiveOperation | None:
        """The operation started (its first frame written to `socket`, its sink attached), or None
        when the general path must answer it (nothing was sent, nothing is held)."""
        telemetry = context.get("telemetry") if isinstance(context, dict) else None
        if telemetry is not None and (
            telemetry.exporting_spans or trace.get_current_span().get_span_context().is_valid
        ):
            return None  # the general path builds the operation's span
        op = self._operation(plan)
        if op is None:
            return None
        inputs = variables or {}
        try:
            inputs_json: str | None = orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS, default=str).decode()
        except Exception:  # noqa: BLE001 - (an integer past 64 bits) coerced below, refused by the shape
            inputs_json = None
        arguments = self._arguments(op, inputs, inputs_json)
        if arguments is None:
            return None  # graphql-core's own errors, reported by the general path
        try:
            opened = await op.opener(context, dict(arguments))
        except Exception:  # noqa: BLE001 - the general path runs the same checks and reports the error
            return None
        try:
            if inputs_json is None:
                raise ValueError("variables without a JSON key")
            shape = (op.printed, inputs_json)
            first = opened.held.first
            data = await self._first_frame(op, opened, shape, prefix, inputs, context)
        except Exception:  # noqa: BLE001 - the general path renders it again and reports what fails
            data = None
        except BaseException:
            opened.held.close()
            raise
        if data is None:
            opened.held.close()
            return None
        self.started += 1  # before the write: whoever reads the frame sees the count
        socket.write(data)

        async def render(update: Any) -> bytes:
            text = await self._text(op, opened, shape, inputs, context, update)
            if text is None:
                raise RuntimeError("a subscription frame could not be rendered")
            return frame((prefix + text + "}").encode())

        sink = PushSink(socket, shape_of((*shape, prefix)), render, first.seq)
        opened.hub.attach(first, sink)
        return LiveOperation(opened, sink, telemetry, operation_name or "anonymous")

    def _arguments(self, op: _Operation, inputs: dict[str, Any], key: str | None) -> dict[str, Any] | None:
        """The field's arguments coerced from `inputs` (kept per operation under their sorted JSON
        `key`), or None when they do not coerce (nothing kept)."""
        known = op.arguments.get(key) if key is not None else None
        if known is not None:
            op.arguments.move_to_end(key)  # type: ignore[arg-type]
            return known
        coerced = get_variable_values(self.schema, op.node.variable_definitions or (), inputs)
        if isinstance(coerced, list):
            return None
        try:
            arguments = get_argument_values(op.definition, op.field, coerced)
        except Exception:  # noqa: BLE001 - the general path coerces again and reports the error
            return None
        if key is not None and self.arguments_max:
            op.arguments[key] = arguments
            while len(op.arguments) > self.arguments_max:
                op.arguments.popitem(last=False)
        return arguments

    async def _first_frame(
        self,
        op: _Operation,
        opened: Opened,
        shape: tuple[str, str],
        prefix: str,
        inputs: dict[str, Any],
        context: Any,
    ) -> bytes | None:
        """The first message's whole frame, shared by every subscriber starting at the same update
        with the same operation and protocol (the key `podium.gql.live_fast` uses too)."""
        first = opened.held.first
        frame_key = (*first.key, *shape, prefix)
        data = opened.cache.get(frame_key)
        if data is not None:
            return data  # type: ignore[no-any-return]
        text = await self._text(op, opened, shape, inputs, context, first)
        if text is None:
            return None
        data = frame((prefix + text + "}").encode())
        opened.cache.put(frame_key, data)
        return data

    async def _text(
        self,
        op: _Operation,
        opened: Opened,
        shape: tuple[str, str],
        inputs: dict[str, Any],
        context: Any,
        update: Any,
    ) -> str | None:
        key = (*update.key, *shape)
        text = opened.cache.get(key)
        if text is None:
            text = await render_payload(
                self.schema, op.document, context, inputs, op.name, opened.to_object(update)
            )
            if text is None:
                return None
            opened.cache.put(key, text)
        return text  # type: ignore[no-any-return]
