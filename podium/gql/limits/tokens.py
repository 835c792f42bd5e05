"""Bounds the lexing work of a document: every token counts, comments included.

graphql-core's own `max_tokens` skips comments, so one huge comment could keep the event loop
busy however small the token limit; counting them here (before parsing, stopping at the limit)
makes the limit cover every byte the lexer reads. The body byte limit bounds the rest."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from graphql import GraphQLError, GraphQLSyntaxError, Lexer, Source, TokenKind


def token_count(query: str, count_max: int) -> int:
    """Tokens (comments included) up to `count_max + 1`: counting stops past the limit. A document
    the lexer refuses is left to the parser, which reports the syntax error."""
    lexer = Lexer(Source(query))
    token, count = lexer.token, 0
    try:
        while token.kind is not TokenKind.EOF and count <= count_max:
            token = lexer.read_next_token(token.end)
            count += 1
    except GraphQLSyntaxError:
        pass
    return count


class TokenLimit(SchemaExtension):
    def __init__(self, token_count_max: int) -> None:
        self.token_count_max = token_count_max

    def on_operation(self) -> Iterator[None]:
        query = self.execution_context.query
        if isinstance(query, str) and token_count(query, self.token_count_max) > self.token_count_max:
            raise GraphQLError(f"the document has more than {self.token_count_max} tokens (comments count)",
                               extensions={"code": "BAD_USER_INPUT"})
        self.execution_context.parse_options["max_tokens"] = self.token_count_max
        yield
