"""Unit tests of the GraphQL kernel helpers that were only reached over HTTP: error coding
(podium.gql.errors), the `Long` scalar (podium.gql.scalars), the token counter (podium.gql.limits.
tokens) and the outage status of podium.gql.view, each against an exact oracle."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.responses import Response

from graphql import GraphQLError
from podium.errors import BadUserInput, InProgress, NotFound, Rebuilding, Unavailable
from podium.gql.errors import as_graphql_errors, coded
from podium.gql.limits.tokens import token_count
from podium.gql.scalars import _parse_long
from podium.gql.view import store_outage_status
from podium.model import SCORE_ABS_MAX


def _wrapped(original: Exception | None, path: list[str] | None = None) -> GraphQLError:
    return GraphQLError("raw message", path=path, original_error=original)


@pytest.mark.parametrize("error, code", [(NotFound("no board"), "NOT_FOUND"), (Unavailable("down"), "UNAVAILABLE"),
                                         (BadUserInput("bad"), "BAD_USER_INPUT")])
def test_podium_errors_keep_their_code_and_message(error: Exception, code: str) -> None:
    out = coded(_wrapped(error, ["field"]))
    assert out.extensions == {"code": code} and out.message == str(error) and out.path == ["field"]


def test_extensions_of_a_podium_error_travel_with_the_code() -> None:
    assert coded(_wrapped(InProgress("busy", 2.5))).extensions == {"code": "CONFLICT", "retryAfter": 2.5}


def test_parse_and_validation_errors_are_the_callers_input() -> None:
    assert coded(_wrapped(None)).extensions == {"code": "BAD_USER_INPUT"}
    own = GraphQLError("x", extensions={"code": "PERSISTED_QUERY_NOT_FOUND"})
    assert coded(own).extensions == {"code": "PERSISTED_QUERY_NOT_FOUND"}   # a code already set stays


def test_value_errors_outside_resolvers_are_input_errors_inside_them_internal() -> None:
    assert coded(_wrapped(ValueError("Long must be an integer"))).extensions == {"code": "BAD_USER_INPUT"}
    masked = coded(_wrapped(ValueError("secret detail"), ["leaderboard"]))
    assert masked.extensions == {"code": "INTERNAL"} and masked.message == "internal error"
    assert coded(_wrapped(KeyError("boom"), ["x"])).message == "internal error"


def test_subscription_errors_are_raised_coded() -> None:
    with pytest.raises(GraphQLError) as podium, as_graphql_errors():
        raise Rebuilding("rebuilding")
    assert podium.value.extensions["code"] == "REBUILDING"
    with pytest.raises(GraphQLError) as other, as_graphql_errors():
        raise RuntimeError("secret")
    assert other.value.extensions == {"code": "INTERNAL"} and "secret" not in other.value.message


@settings(max_examples=60)
@given(st.one_of(st.integers(), st.integers().map(str), st.booleans(), st.floats(), st.none(), st.text(max_size=5)))
def test_long_accepts_exactly_the_integers_within_2_53(value: object) -> None:
    exact = (not isinstance(value, bool) and (isinstance(value, int) or
             (isinstance(value, str) and value.strip().lstrip("+-").isdigit())))
    if exact and abs(int(value)) <= SCORE_ABS_MAX:   # type: ignore[call-overload]
        assert _parse_long(value) == int(value)   # type: ignore[call-overload]
    else:
        with pytest.raises(ValueError):
            _parse_long(value)


TOKENS = {"a": 1, "{": 1, "}": 1, "(": 1, ")": 1, "$x": 2, ":": 1, "...": 1, "1": 1, '"s"': 1, "# note\n": 1}


@settings(max_examples=60)
@given(st.lists(st.sampled_from(list(TOKENS)), max_size=40), st.integers(0, 50))
def test_token_count_counts_every_token_comments_included_up_to_the_limit(parts: list[str], limit: int) -> None:
    """The count includes the end-of-document token and stops one past the limit."""
    document = " ".join(parts)
    assert token_count(document, limit) == min(sum(TOKENS[p] for p in parts) + 1, limit + 1)


def _graphql_response(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def test_only_answers_whose_every_error_is_an_outage_become_503() -> None:
    down = {"code": "UNAVAILABLE", "retryAfter": 2.6}
    outage = store_outage_status(_graphql_response({"data": None, "errors": [{"message": "m", "extensions": down},
                                                                             {"message": "m", "extensions": {"code": "REBUILDING"}}]}))
    assert outage.status_code == 503 and outage.headers["retry-after"] == "3"
    mixed = _graphql_response({"data": None, "errors": [{"message": "m", "extensions": down},
                                                        {"message": "m", "extensions": {"code": "BAD_USER_INPUT"}}]})
    assert store_outage_status(mixed).status_code == 200
    fine = _graphql_response({"data": {"player": "UNAVAILABLE"}})   # the word in data is no error
    assert store_outage_status(fine).status_code == 200 and "retry-after" not in fine.headers
    refused = _graphql_response({"errors": [{"message": "m", "extensions": {"code": "UNAVAILABLE"}}]}, 400)
    assert store_outage_status(refused).status_code == 400
    batch = _graphql_response([{"errors": [{"message": "m", "extensions": {"code": "UNAVAILABLE"}}]}])
    assert store_outage_status(batch).status_code == 200
