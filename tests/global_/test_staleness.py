"""Staleness measured on the data: against an oracle that knows every change-stream id, the lag
the global tier reports is never below the true age of the oldest unmerged change, and equals it
when the region's acknowledged position is merged (the HTTP transport)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from podium.global_.staleness import Feed, FeedReport, RegionFeeds
from podium.replication.changes import SEQ_SUB_BITS

NOW_MS = 1_000_000


def seq(ms: int, n: int = 0) -> int:
    return (ms << SEQ_SUB_BITS) | n


stream = st.lists(st.integers(1, 5000), min_size=1, max_size=30, unique=True).map(sorted)


@given(commit_ms=stream, data=st.data())
def test_lag_is_never_understated_and_exact_when_acks_are_merged(commit_ms: list[int], data: st.DataObject) -> None:
    ids = [seq(ms) for ms in commit_ms]
    merged = data.draw(st.integers(0, len(ids)), label="entries merged")
    acked = data.draw(st.integers(0, len(ids)), label="entries acknowledged at the region")
    feed = Feed()
    if merged:
        feed.merged(ids[merged - 1])
    report = FeedReport(ids[-1], ids[acked - 1] if acked else 0, ids[acked] if acked < len(ids) else 0)
    feed.observe(report)
    true_age = NOW_MS - commit_ms[merged] if merged < len(ids) else 0
    assert feed.lag_ms(NOW_MS) >= true_age
    if acked == merged:   # HTTP: the region records an acknowledgement the global tier gave after merging
        assert feed.lag_ms(NOW_MS) == true_age
    # later merges catch up: once everything is merged, nothing is pending
    feed.merged(ids[-1])
    assert feed.lag_ms(NOW_MS) == 0


def test_a_paused_region_that_keeps_writing_turns_stale_though_it_keeps_talking() -> None:
    feeds = RegionFeeds()
    feed = feeds.feed("arena")
    feed.merged(seq(10_000))
    for now in range(10_000, 20_000, 1000):       # heartbeats every second: contact is fresh
        feeds.last_contact_ms = now
        feed.observe(FeedReport(seq(now), seq(10_000), seq(10_500)))
        assert feeds.is_stale(now, 5000) == (now - 10_500 > 5000)
    assert feeds.lag_ms(19_000) == 8500


def test_silence_is_stale_and_an_idle_region_is_not() -> None:
    feeds = RegionFeeds(last_contact_ms=1000)
    feeds.feed("arena").merged(seq(900))
    feeds.feed("arena").observe(FeedReport(seq(900), seq(900), 0))
    assert not feeds.is_stale(5000, 5000) and feeds.lag_ms(5000) == 0
    assert feeds.is_stale(6001, 5000)
