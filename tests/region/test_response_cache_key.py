"""The whole-response cache's key (podium.region.api.response_cache.ResponseCache.key): two requests
share a key only when method, query string, body, credential and Accept are all equal (a body may
hold NULs; the other parts cannot, h11 refuses them), and no key is longer than the raw bound."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.api.response_cache import RAW_KEY_BYTES_MAX, ResponseCache

NO_NUL = st.binary(max_size=40).map(lambda b: b.replace(b"\0", b"x"))
REQUEST = st.tuples(st.sampled_from(["GET", "POST"]), NO_NUL,
                    st.one_of(st.binary(max_size=60), st.binary(min_size=RAW_KEY_BYTES_MAX - 20,
                                                                max_size=RAW_KEY_BYTES_MAX + 20)),
                    NO_NUL, NO_NUL)


def _key(request: tuple[str, bytes, bytes, bytes, bytes]) -> bytes:
    method, query, body, auth, accept = request
    return ResponseCache.key(method, query, body, {b"authorization": auth, b"accept": accept})


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])   # a loaded CI machine
@given(a=REQUEST, b=REQUEST)
def test_keys_are_equal_exactly_when_the_requests_are(a: tuple[str, bytes, bytes, bytes, bytes],
                                                      b: tuple[str, bytes, bytes, bytes, bytes]) -> None:
    assert (_key(a) == _key(b)) == (a == b)
    assert len(_key(a)) <= RAW_KEY_BYTES_MAX + 1


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=REQUEST, data=st.data())
def test_a_request_differing_in_one_part_gets_another_key(a: tuple[str, bytes, bytes, bytes, bytes],
                                                          data: st.DataObject) -> None:
    part = data.draw(st.integers(1, 4))
    changed = list(a)
    changed[part] = changed[part] + b"\0" if part == 2 else changed[part] + b"y"
    assert _key(a) != _key(tuple(changed))  # type: ignore[arg-type]
