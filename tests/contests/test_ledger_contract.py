"""The Ledger contract, against SQLite and a real PostgreSQL server: balanced transactions,
idempotent ids, escrow never negative, and the sum over accounts always zero."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.contests.ledger import PostResult, Transaction, transfer

pytestmark = pytest.mark.anyio


async def test_post_is_idempotent_and_balanced(ledger: Any) -> None:
    fee = transfer("fee:c1:ann/t1", "fee", "player:ann", "escrow:c1", 500)
    assert await ledger.post([fee]) == [PostResult.POSTED]
    assert await ledger.post([fee]) == [PostResult.EXISTS]
    assert await ledger.balance("escrow:c1") == 500 and await ledger.balance("player:ann") == -500
    assert await ledger.total() == 0
    other = transfer("fee:c1:ann/t1", "fee", "player:ann", "escrow:c1", 600)
    assert await ledger.post([other]) == [PostResult.CONFLICT]
    assert await ledger.balance("escrow:c1") == 500


async def test_escrow_never_goes_negative_and_only_the_bad_transaction_is_refused(ledger: Any) -> None:
    results = await ledger.post([
        transfer("fee:1", "fee", "player:a", "escrow:c", 100),
        transfer("payout:1", "payout", "escrow:c", "player:b", 150),    # overdraws
        transfer("payout:2", "payout", "escrow:c", "player:b", 60),
    ])
    assert results == [PostResult.POSTED, PostResult.OVERDRAWN, PostResult.POSTED]
    assert await ledger.balances("escrow:") == {"escrow:c": 40}
    assert [t.id for t in await ledger.transactions("payout:")] == ["payout:2"]
    assert await ledger.total() == 0


async def test_random_histories_keep_every_rule(ledger: Any) -> None:
    ops = st.lists(st.tuples(st.sampled_from(["fee", "payout"]), st.integers(0, 9), st.integers(1, 50)),
                   max_size=40)

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(ops)
    def run(history: list[tuple[str, int, int]]) -> None:
        histories.append(history)

    histories: list[list[tuple[str, int, int]]] = []
    run()
    for n, history in enumerate(histories):
        escrow = 0
        txns: list[Transaction] = []
        for i, (kind, player, amount) in enumerate(history):
            src, dst = ("player:p%d" % player, f"escrow:h{n}") if kind == "fee" else (f"escrow:h{n}", "player:p%d" % player)
            txns.append(transfer(f"h{n}:{i}", kind, src, dst, amount))
        batch = txns + txns[:5]                                              # with replays
        results = await ledger.post(batch)
        done: set[str] = set()
        for txn, result in zip(batch, results, strict=True):
            kind, amount = txn.kind, txn.postings[1][1]
            if txn.id in done:
                expected = PostResult.EXISTS
            elif kind == "fee" or escrow - amount >= 0:
                expected = PostResult.POSTED
                escrow += amount if kind == "fee" else -amount
                done.add(txn.id)
            else:
                expected = PostResult.OVERDRAWN
            assert result is expected
        assert await ledger.balance(f"escrow:h{n}") == escrow >= 0
        assert await ledger.total() == 0


async def test_a_call_of_fees_is_answered_as_if_posted_one_by_one(ledger: Any) -> None:
    """Nothing drawn from an escrow: the adapters write the call in bulk. Ids stored before, repeated
    within the call, or reused with other postings get the answers of one-by-one posting."""
    def fee(i: int, amount: int) -> Transaction:
        return transfer(f"f:{i}", "fee", "player:a", "escrow:b", amount)

    assert await ledger.post([fee(0, 10)]) == [PostResult.POSTED]
    results = await ledger.post([fee(1, 20), fee(0, 10), fee(0, 11), fee(1, 20), fee(1, 21), fee(2, 5)])
    assert results == [PostResult.POSTED, PostResult.EXISTS, PostResult.CONFLICT, PostResult.EXISTS,
                       PostResult.CONFLICT, PostResult.POSTED]
    assert await ledger.balances("") == {"escrow:b": 35, "player:a": -35}
    assert sorted(t.id for t in await ledger.transactions("f:")) == ["f:0", "f:1", "f:2"]
    assert await ledger.total() == 0
