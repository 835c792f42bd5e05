"""Hypothesis strategies for hostile JSON: any value in any field, integers of any size, floats with
NaN and Infinity, lone surrogates, huge strings, deep nesting; and a JSON encoder that writes them
all (the standard encoders refuse some, and would recurse on deep nesting)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st


@dataclass(frozen=True)
class Deep:
    """An array nested `depth` times: written directly, as no encoder recurses that far."""

    depth: int


def encode(value: Any) -> str:
    """JSON text for any generated value (NaN/Infinity as the literals Python's parser accepts)."""
    if isinstance(value, Deep):
        return "[" * value.depth + "]" * value.depth
    if isinstance(value, dict):
        return "{" + ",".join(f"{encode(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)   # lone surrogates become \\udXXX escapes
    return json.dumps(value)


# every code point, lone surrogates included (hypothesis leaves category Cs out by default)
any_char = st.characters(codec=None, categories=None)
texts = st.one_of(
    st.text(any_char, max_size=20),
    st.sampled_from(["", "\ud800", "a\udfff", "p\n", " ", "é" * 70, "\x00", "null", "1e400"]),
    st.builds(lambda n, c: c * n, st.integers(1_000, 200_000), st.sampled_from(["x", "é", "\ud800"])),
)
integers = st.one_of(
    st.integers(),
    st.sampled_from([2**53, 2**53 + 1, -(2**53) - 1, 2**63, 2**64, -(2**63) - 1, 10**30, 2**48, -1, 0]),
    st.builds(lambda digits: int("9" * digits), st.integers(20, 400)),
)
floats = st.floats(allow_nan=True, allow_infinity=True)
scalars = st.one_of(st.none(), st.booleans(), integers, floats, texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(any_char, max_size=8), inner, max_size=4)),
    max_leaves=12,
) | st.builds(Deep, st.integers(10, 5_000))

# header names are tokens; values any latin-1 text a client library will send
header_names = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-_0123456789"), min_size=1, max_size=20).filter(
    lambda n: n not in ("content-length", "host", "transfer-encoding", "connection", "upgrade", "expect"))
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=200).map(
    lambda v: v.strip(" \t").encode("latin-1"))   # bytes: sent as is; h11 refuses surrounding whitespace
headers = st.dictionaries(
    st.one_of(header_names, st.sampled_from(["authorization", "content-type", "idempotency-key", "accept",
                                             "x-podium-key", "x-podium-signature", "x-podium-timestamp",
                                             "if-none-match", "x-forwarded-for", "cookie"])),
    header_values, max_size=5)
