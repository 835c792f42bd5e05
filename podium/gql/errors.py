"""Every GraphQL error carries `extensions.code`; unexpected exceptions are masked as INTERNAL."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from graphql import GraphQLError
from podium.errors import PodiumError

log = logging.getLogger("podium.graphql")


def coded(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, PodiumError):
        return GraphQLError(
            original.message, nodes=error.nodes, source=error.source, positions=error.positions,
            path=error.path, original_error=original, extensions={"code": original.code, **original.extensions},
        )
    if original is None or isinstance(original, GraphQLError):
        # parse / validation / variable coercion errors: the caller's input
        ext = {**(error.extensions or {})}
        ext.setdefault("code", "BAD_USER_INPUT")
        return GraphQLError(error.message, nodes=error.nodes, source=error.source, positions=error.positions,
                            path=error.path, original_error=original, extensions=ext)
    if isinstance(original, ValueError | TypeError) and error.path is None:
        return GraphQLError(str(original), nodes=error.nodes, path=error.path, extensions={"code": "BAD_USER_INPUT"})
    log.error("unexpected error in resolver", exc_info=original)
    return GraphQLError("internal error", nodes=error.nodes, path=error.path, extensions={"code": "INTERNAL"})


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [coded(e) for e in result.errors]


@contextlib.contextmanager
def as_graphql_errors() -> Iterator[None]:
    """For subscription resolvers, whose errors do not pass through `ErrorCodes`: raise a
    GraphQLError that already carries `extensions.code`."""
    try:
        yield
    except PodiumError as exc:
        raise GraphQLError(exc.message, extensions={"code": exc.code, **exc.extensions}) from exc
    except GraphQLError:
        raise
    except Exception as exc:
        log.error("unexpected error in subscription", exc_info=exc)
        raise GraphQLError("internal error", extensions={"code": "INTERNAL"}) from exc
