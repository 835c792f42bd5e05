"""The Ledger port: a double-entry ledger of contest money. One adapter per store
(`ledger_sqlite`, `ledger_postgres`), one contract suite run against both.

Rules every adapter keeps, inside one store transaction per call:
- a transaction's postings add up to zero, so the sum over all accounts is always zero;
- a transaction is idempotent by id: posting the same id again changes nothing (the same postings)
  or is refused as a conflict (different postings);
- an `escrow:` account never goes negative: a transaction that would overdraw one is refused, alone
  (the others of the same call are still posted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from podium.invariant import invariant

ESCROW_PREFIX = "escrow:"
TRANSACTIONS_PER_CALL_MAX = 10_000


class PostResult(StrEnum):
    POSTED = "posted"
    EXISTS = "exists"             # the same transaction was posted before: nothing changed
    CONFLICT = "conflict"         # the id was used for different postings
    OVERDRAWN = "overdrawn"       # an escrow account would go negative


@dataclass(frozen=True, slots=True)
class Transaction:
    id: str
    kind: str                                  # fee, payout, refund, remainder
    postings: tuple[tuple[str, int], ...]      # (account, amount added to its balance)

    def __post_init__(self) -> None:
        # Messages built only on failure: every join's fee makes one (an eager f-string was ~4% of a join's CPU)
        balanced = sum(a for _, a in self.postings) == 0
        if not balanced:
            invariant(balanced, f"transaction {self.id} does not balance")
        invariant(len({acc for acc, _ in self.postings}) == len(self.postings), "one posting per account")

    def canonical(self) -> str:
        return ";".join(f"{acc}={amount}" for acc, amount in sorted(self.postings))


def transfer(txn_id: str, kind: str, source: str, dest: str, amount: int) -> Transaction:
    return Transaction(txn_id, kind, ((source, -amount), (dest, amount)))


def bulk_plan(txns: Sequence[Transaction], existing: dict[str, str]) -> tuple[list[PostResult], list[Transaction]] | None:
    """The results of posting `txns` in order given the canonical forms already stored by id, and the
    transactions to insert, when no new one draws on an escrow account (none can overdraw, so the
    adapter may write them all with a few bulk statements); None otherwise (post one by one)."""
    seen = dict(existing)
    results: list[PostResult] = []
    new: list[Transaction] = []
    for txn in txns:
        canonical = txn.canonical()
        prior = seen.get(txn.id)
        if prior is not None:
            results.append(PostResult.EXISTS if prior == canonical else PostResult.CONFLICT)
            continue
        if any(amount < 0 and account.startswith(ESCROW_PREFIX) for account, amount in txn.postings):
            return None
        seen[txn.id] = canonical
        new.append(txn)
        results.append(PostResult.POSTED)
    return results, new


def balance_changes(txns: Sequence[Transaction]) -> dict[str, int]:
    """Each account's total change over `txns` (one balance update per account, not per posting)."""
    out: dict[str, int] = {}
    for txn in txns:
        for account, amount in txn.postings:
            out[account] = out.get(account, 0) + amount
    return out


class Ledger(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def post(self, txns: Sequence[Transaction]) -> list[PostResult]: ...

    async def balance(self, account: str) -> int: ...

    async def balances(self, prefix: str) -> dict[str, int]: ...

    async def total(self) -> int: ...

    async def transactions(self, prefix: str) -> list[Transaction]: ...
