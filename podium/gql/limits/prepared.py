"""Operations prepared once: a bounded LRU of parsed, validated and cost-compiled documents.

Validating a document is most of the CPU a small read costs (a profile under load put ~37% of the
process in validation and ~4% in parsing), and clients send the same few documents over and over.
An entry is keyed by the SHA-256 of the document text, so it is specific to this schema and its
validation rules (the cache belongs to one schema). What a cached entry skips: the token count,
parsing and validation; what it never skips: the cost check, whose function of the variables is
compiled once and evaluated per request, so a cached document sent with larger pages is refused.

Only documents that parse are kept (a syntax error costs the parser what it cost the first time)
and only those up to `operation_cache_document_bytes_max`, so the cache holds at most
entries_max × that many bytes of source (and their ASTs)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode
from podium.gql.limits.cost import CostFunction, compile_cost
from podium.gql.limits.tokens import token_count


@dataclass
class PreparedOperation:
    document: DocumentNode
    errors: list[GraphQLError]                  # validation errors (empty: valid)
    operation_names: frozenset[str]
    costs: dict[str | None, CostFunction] = field(default_factory=dict)
    # compiled plans per operation name (podium.gql.compiled_view), kept and evicted with the entry;
    # None: the operation cannot be planned
    plans: dict[str | None, Any] = field(default_factory=dict)

    def cost(self, operation_name: str | None, page_max: int) -> CostFunction:
        """One compiled function per operation the document names (an unknown name is not kept:
        execution refuses it, and a client could otherwise grow the entry with made-up names)."""
        known = self.costs.get(operation_name)
        if known is not None:
            return known
        compiled = compile_cost(self.document, operation_name, page_max)
        if operation_name is None or operation_name in self.operation_names:
            self.costs[operation_name] = compiled
        return compiled


class OperationCache:
    """LRU of prepared operations, bounded in entries and in document bytes."""

    def __init__(self, entries_max: int, document_bytes_max: int) -> None:
        self.entries_max = entries_max
        self.document_bytes_max = document_bytes_max
        self.entries: OrderedDict[bytes, PreparedOperation] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(query: str) -> bytes:
        return hashlib.sha256(query.encode("utf-8", "surrogatepass")).digest()

    def get(self, key: bytes) -> PreparedOperation | None:
        entry = self.entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self.entries.move_to_end(key)
        return entry

    def put(self, key: bytes, query: str, entry: PreparedOperation) -> None:
        if self.entries_max <= 0 or len(query) > self.document_bytes_max:
            return
        self.entries[key] = entry
        self.entries.move_to_end(key)
        while len(self.entries) > self.entries_max:
            self.entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self.entries)


class PreparedOperations(SchemaExtension):
    """Token limit, parse, validation and cost in one extension, in the order the separate guards
    ran them (tokens, parse, cost, validation), so a refusal reads the same with the cache on or off."""

    def __init__(self, cache: OperationCache, token_count_max: int, cost_max: int, page_max: int) -> None:
        self.cache = cache
        self.token_count_max = token_count_max
        self.cost_max = cost_max
        self.page_max = page_max
        self.key: bytes | None = None
        self.prepared: PreparedOperation | None = None

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        query = ctx.query
        if isinstance(query, str) and ctx.graphql_document is None:
            self.key = self.cache.key(query)
            self.prepared = self.cache.get(self.key)
            if self.prepared is not None:
                ctx.graphql_document = self.prepared.document
            else:
                if token_count(query, self.token_count_max) > self.token_count_max:
                    raise GraphQLError(f"the document has more than {self.token_count_max} tokens (comments count)",
                                       extensions={"code": "BAD_USER_INPUT"})
                ctx.parse_options["max_tokens"] = self.token_count_max
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None and self.key is not None:
            prepared = self.prepared
            if prepared is None:
                names = frozenset(d.name.value for d in document.definitions
                                  if isinstance(d, OperationDefinitionNode) and d.name is not None)
                errors = validate_document(ctx.schema._schema, document, ctx.validation_rules)
                prepared = PreparedOperation(document, errors, names)
                assert isinstance(ctx.query, str)
                self.cache.put(self.key, ctx.query, prepared)
            variables = ctx.variables if isinstance(ctx.variables, dict) else {}
            cost = prepared.cost(ctx.operation_name, self.page_max)(variables)
            if cost > self.cost_max:
                raise GraphQLError(f"query cost {cost} exceeds the limit of {self.cost_max}",
                                   extensions={"code": "BAD_USER_INPUT"})
            ctx.pre_execution_errors = list(prepared.errors)
        yield


@dataclass(frozen=True)
class PreparedOperationsFactory:
    """Makes each request's `PreparedOperations`; the view finds the schema's cache and cost
    limits through it (the fast path reads prepared operations from the same cache)."""

    cache: OperationCache
    token_count_max: int
    cost_max: int
    page_max: int

    def __call__(self) -> PreparedOperations:
        return PreparedOperations(self.cache, self.token_count_max, self.cost_max, self.page_max)
