"""The contest front: declare, build teams, join, feed real-world events, read, settle, void.
Every rule lives here or in the pure core; the stores only keep the deadline atomic."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from podium.region.contests.feed_apply import apply_events, ready_contests
from podium.region.contests.joins import JoinLimits, Joins
from podium.region.contests.joins_redis import RedisJoins
from podium.region.contests.ledger import PostResult, Transaction, transfer
from podium.region.contests.ledger_batcher import LedgerBatcher
from podium.region.contests.model import Contest, Match, Team
from podium.region.contests.scoring import FeedEvent, ScoringRules, delta_of
from podium.region.contests.settlement import payouts, scaled
from podium.region.contests.sink_kafka import ContestFeedSink, FeedRecord
from podium.region.contests.store_redis import RedisContestStore, Standing, composition
from podium.region.contests.teams import check_team, multipliers

from podium.clock import Clock
from podium.errors import BadUserInput, Conflict, ContestLocked, NotFound, Unavailable

FEED_EVENTS_MAX = 1000
DEFINITIONS_CACHED_MAX = 1024     # parsed match/contest definitions kept per process
DEFINITION_TTL_MS = 1000          # how long a parsed definition is reused (a contest's state is not cached)
STANDINGS_PAGE_MAX = 1000
AROUND_MAX = 50
SAVE_ATTEMPTS_MAX = 16        # compare-and-set rounds of one saveTeam racing other saves and joins of the team


@dataclass(frozen=True, slots=True)
class SettlementSigner:
    key_id: str
    secret: str

    def sign(self, body: bytes) -> str:
        return hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()


class SettlementPublisher(Protocol):
    """Where a settled contest's signed settlement goes for the game's wallet (the webhook outbox)."""

    async def publish(self, contest_id: str, signed: dict[str, Any], now_ms: int) -> bool: ...


class ContestService:
    def __init__(self, store: RedisContestStore, ledger: LedgerBatcher, clock: Clock,
                 signer: SettlementSigner | None = None, publisher: SettlementPublisher | None = None,
                 join_limits: JoinLimits | None = None) -> None:
        self.store = store
        self.ledger = ledger
        self.clock = clock
        self.signer = signer
        self.publisher = publisher
        self._matches: dict[str, tuple[int, Match]] = {}
        self._contests: dict[str, tuple[int, Contest]] = {}
        self._contests_loading: dict[str, asyncio.Future[Contest]] = {}   # one store read per contest at a time
        self.joins = Joins(RedisJoins(store.redis), ledger, clock, self._contest_def, self._match,
                           join_limits or JoinLimits())
        self.sink: ContestFeedSink | None = None      # set in event-log mode (contests.event_log)

    async def _match(self, match_id: str) -> Match:
        """A match definition, parsed at most once per DEFINITION_TTL_MS (joins read it every time)."""
        now = self.clock.now_ms()
        hit = self._matches.get(match_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        match = await self.store.match(match_id)
        if len(self._matches) >= DEFINITIONS_CACHED_MAX:
            self._matches.clear()
        self._matches[match_id] = (now + DEFINITION_TTL_MS, match)
        return match

    async def _contest_def(self, contest_id: str) -> Contest:
        """A contest's definition (immutable once created), parsed at most once per DEFINITION_TTL_MS;
        its state is never cached (the store's Lua checks it on every write). Callers arriving while
        it is being read wait for that read (2,000 subscribers connecting at once make one, not 2,000);
        each gets the read's error too (NOT_FOUND for an unknown contest)."""
        hit = self._contests.get(contest_id)
        if hit is not None and hit[0] > self.clock.now_ms():
            return hit[1]
        loading = self._contests_loading.get(contest_id)
        if loading is None:
            loading = self._contests_loading[contest_id] = asyncio.ensure_future(self._load_contest(contest_id))
            loading.add_done_callback(lambda _done: self._contests_loading.pop(contest_id, None))
        return await asyncio.shield(loading)

    async def _load_contest(self, contest_id: str) -> Contest:
        contest, _state = await self.store.contest(contest_id)
        if len(self._contests) >= DEFINITIONS_CACHED_MAX:
            self._contests.clear()
        self._contests[contest_id] = (self.clock.now_ms() + DEFINITION_TTL_MS, contest)
        return contest

    async def contest_definition(self, contest_id: str) -> Contest:
        """A contest's definition, from the short cache the joins use (NOT_FOUND when unknown)."""
        return await self._contest_def(contest_id)

    async def aclose(self) -> None:
        """Answers the joins still waiting for a batch, then the ledger's waiting postings."""
        await self.joins.aclose()
        await self.ledger.aclose()

    # -- admin: declarations ---------------------------------------------------------------
    async def declare_match(self, doc: Any) -> Match:
        match = Match.from_dict(doc)
        rules = ScoringRules.from_dict(doc.get("scoring") if isinstance(doc, dict) else None)
        if not await self.store.save_rules(match.id, rules.version, doc["scoring"]):
            raise Conflict(f"scoring rules version {rules.version} exists with other rules: publish a new version")
        await self.store.save_match(match)
        return match

    async def publish_rules(self, match_id: str, doc: Any) -> ScoringRules:
        await self.store.match(match_id)
        rules = ScoringRules.from_dict(doc)
        if not await self.store.save_rules(match_id, rules.version, doc):
            raise Conflict(f"scoring rules version {rules.version} exists with other rules")
        return rules

    async def create_contest(self, doc: Any) -> Contest:
        contest = Contest.from_dict(doc)
        match = await self.store.match(contest.match)
        if not await self.store.create_contest(contest, match):
            existing, _ = await self.store.contest(contest.id)
            if existing != contest:
                raise Conflict(f"contest {contest.id} exists with another definition")
        return contest

    # -- players: teams and entries --------------------------------------------------------
    def _before_deadline(self, match: Match) -> None:
        if self.clock.now_ms() >= match.deadline_ms:
            raise ContestLocked(f"match {match.id} locked at {match.deadline_ms}")

    async def save_team(self, owner: str, doc: Any) -> dict[str, Any]:
        """Saves (a new version of) a team and carries it into every contest it has joined. The
        write is a compare-and-set on the document read (`store.save_team`): a save or a join
        recorded meanwhile makes it read again, so each version is given once and the line-up is
        checked against the rules of every contest on the record it writes. Entries are updated
        after the write, newest version wins (a join racing this save catches up itself, see `joins`)."""
        team = Team.from_dict(owner, doc)
        match = await self._match(team.match)
        for _ in range(SAVE_ATTEMPTS_MAX):
            self._before_deadline(match)
            read = await self.store.team_document(match.id, team.key)
            previous = orjson.loads(read) if read is not None else None
            contests = list(previous.get("contests", [])) if previous else []
            if previous and Team.from_dict(owner, previous) == team:
                return {**team.to_dict(), "version": previous["version"], "contests": contests}
            joined = [await self._contest_def(c) for c in contests]
            for contest in joined:
                check_team(team, match, contest.rules)
            version = (previous["version"] + 1) if previous else 1
            saved = await self.store.save_team(team, version, match.deadline_ms, contests, read)
            if saved == -1:
                raise ContestLocked(f"match {match.id} locked at {match.deadline_ms}")
            if saved == 1:
                break
        else:
            raise Unavailable(f"team {team.key} changed {SAVE_ATTEMPTS_MAX} times while it was saved: retry")
        for contest in joined:
            comp = composition(team, multipliers(team, contest.rules), version)
            if await self.store.entry(contest, team, comp, "update") == -1:
                raise ContestLocked(f"contest {contest.id} locked while the team was saved; it keeps the earlier version")
        return {**team.to_dict(), "version": version, "contests": contests}

    async def join(self, owner: str, contest_id: str, team_id: str) -> dict[str, Any]:
        """Idempotent by (owner, contest, team): joining twice is one entry and one fee. Concurrent
        joins share one batch (`joins`): a few Redis round trips and one ledger commit for all."""
        return await self.joins.join(owner, contest_id, team_id)

    # -- the feed ----------------------------------------------------------------------------
    async def ready_contests(self, match_id: str) -> list[str]:
        """Contests of the match, locked and indexed (idempotent; the first event after the deadline
        does it)."""
        return await ready_contests(self.store, match_id)

    async def feed(self, events: object) -> list[dict[str, Any]]:
        """Applies real-world events to every contest of their match, exactly once per event id. In
        event-log mode (`sink` set) the scored events are produced to the contest-feed topic and
        answered `accepted` once the broker has them all; `podium worker` fans them out."""
        if not isinstance(events, list) or not 1 <= len(events) <= FEED_EVENTS_MAX:
            raise BadUserInput(f"events must be a list of 1-{FEED_EVENTS_MAX} events")
        results: list[dict[str, Any]] = []
        accepted: list[tuple[dict[str, Any], FeedRecord]] = []
        for i, doc in enumerate(events):
            try:
                record = await self._scored(FeedEvent.from_dict(doc))
                results.append({"index": i, "id": record.event, "status": "accepted"})
                accepted.append((results[-1], record))
            except (BadUserInput, NotFound, Conflict) as exc:
                results.append({"index": i, "status": "rejected", "code": exc.code, "reason": exc.message})
        if self.sink is not None:
            if accepted:     # Unavailable: 503, the whole batch is retried (ids dedup)
                await self.sink.put_records([record for _, record in accepted])
            return results
        # Applied together per match: one pass per contest page for all of them (feed_batch_redis).
        by_match: dict[str, list[tuple[dict[str, Any], FeedRecord]]] = {}
        for pair in accepted:
            by_match.setdefault(pair[1].match, []).append(pair)
        for match_id, pairs in by_match.items():
            counts = await apply_events(self.store, match_id, [(r.event, r.player, r.delta) for _, r in pairs])
            for (result, _), n in zip(pairs, counts, strict=True):
                result.update(status="applied" if n else "unchanged", entries_updated=n)
        return results

    async def _scored(self, event: FeedEvent) -> FeedRecord:
        """Validates and scores an event and records it under its id (the first record of an id wins)."""
        match = await self.store.match(event.match)
        if self.clock.now_ms() < match.deadline_ms:
            raise Conflict(f"match {match.id} has not started: events count from its deadline")
        if event.voids is not None:
            original = await self.store.event(match.id, event.voids)
            if original is None:
                raise NotFound(f"no event {event.voids!r} to void")
            player, delta_s, _ = original.split("\t")
            if player != event.player:
                raise BadUserInput(f"event {event.voids} was about {player}, not {event.player}")
            delta = -int(delta_s)
        else:
            if event.player not in match.players:
                raise BadUserInput(f"{event.player} does not play in match {match.id}")
            versions = await self.store.rules(match.id)
            rules = ScoringRules.from_dict(versions[max(versions)])
            delta = delta_of(event, rules)
        record = f"{event.player}\t{delta}\t{event.voids or ''}"
        stored = await self.store.record_event(match.id, event.id, record)
        if stored != record:
            raise Conflict(f"event id {event.id} was used for another event")
        return FeedRecord(match.id, event.id, event.player, delta)

    # -- reads -------------------------------------------------------------------------------
    async def standings(self, contest_id: str, first: int, entry: str | None = None, around: int = 5) -> dict[str, Any]:
        if not 1 <= first <= STANDINGS_PAGE_MAX or not 0 <= around <= AROUND_MAX:
            raise BadUserInput(f"first must be 1-{STANDINGS_PAGE_MAX}, around 0-{AROUND_MAX}")
        contest, state = await self.store.contest(contest_id)
        top = await self.store.top(contest.id, 0, first)
        mine: list[Standing] = []
        if entry is not None:
            me = await self.store.standing(contest.id, entry)
            if me is not None:
                mine = await self.store.top(contest.id, max(0, me.rank - 1 - around), 2 * around + 1)
        return {"contest": contest.id, "state": state, "as_of_ms": self.clock.now_ms(),
                "top": [_standing(s) for s in top],
                "around": [_standing(s) for s in mine]}

    # -- settlement ----------------------------------------------------------------------------
    async def settle(self, contest_id: str) -> dict[str, Any]:
        """Pays the prize table from the final standings into the players' accounts and the rest of
        the escrow to the house; idempotent (the settlement is computed once and stored)."""
        contest, state = await self.store.contest(contest_id)
        if state == "void":
            raise Conflict(f"contest {contest_id} was voided")
        if state == "open":
            raise Conflict(f"contest {contest_id} has not locked yet")
        doc = await self.store.settlement(contest_id)
        if doc is None:
            if state == "locked":
                await self.store.build_index(contest_id)
            standings = await self.store.all_standings(contest_id)
            collected = await self.ledger.ledger.balance(f"escrow:{contest.id}")
            paid = payouts(standings, scaled(contest.prizes, collected))
            doc = {"contest": contest.id, "entries": len(standings), "collected": collected,
                   "payouts": [{"entry": e, "owner": e.split("/", 1)[0], "amount": a} for e, a in sorted(paid.items())],
                   "settled_at_ms": self.clock.now_ms()}
            doc["remainder"] = collected - sum(paid.values())
            if doc["remainder"] < 0:
                raise Conflict(f"contest {contest.id} collected {collected} but pays {sum(paid.values())}")
            doc = await self.store.save_settlement(contest_id, doc)
        txns = [transfer(f"payout:{contest.id}:{p['entry']}", "payout", f"escrow:{contest.id}",
                         f"player:{p['owner']}", p["amount"]) for p in doc["payouts"]]
        if doc["remainder"]:
            txns.append(transfer(f"remainder:{contest.id}", "remainder", f"escrow:{contest.id}", f"house:{contest.id}",
                                 doc["remainder"]))
        results = await self.ledger.ledger.post(txns)
        if any(r in (PostResult.CONFLICT, PostResult.OVERDRAWN) for r in results):
            raise Unavailable(f"settlement of {contest.id} could not post every payout: {set(results)}")
        await self.store.set_state(contest_id, "settled")
        signed = self.signed(doc)
        if self.publisher is not None:      # after the ledger: a webhook never announces unpaid payouts
            await self.publisher.publish(contest.id, signed, self.clock.now_ms())
        return signed

    def signed(self, doc: dict[str, Any]) -> dict[str, Any]:
        body = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
        if self.signer is None:
            return {"settlement": doc}
        return {"settlement": doc, "key_id": self.signer.key_id, "signature": self.signer.sign(body)}

    async def void(self, contest_id: str) -> dict[str, Any]:
        """Refunds every entry fee (idempotent); the contest accepts nothing more."""
        contest, state = await self.store.contest(contest_id)
        if state == "settled":
            raise Conflict(f"contest {contest_id} is settled: it cannot be voided")
        await self.store.set_state(contest_id, "void")
        refunds: list[Transaction] = []
        if contest.entry_fee:
            for entry in await self.store.entries(contest_id):
                owner = entry.split("/", 1)[0]
                refunds.append(transfer(f"refund:{contest.id}:{entry}", "refund", f"escrow:{contest.id}",
                                        f"player:{owner}", contest.entry_fee))
        results = await self.ledger.ledger.post(refunds)
        return {"contest": contest.id, "refunded": sum(r is PostResult.POSTED for r in results),
                "already_refunded": sum(r is PostResult.EXISTS for r in results)}


def _standing(s: Standing) -> dict[str, Any]:
    return {"rank": s.rank, "entry": s.entry, "points": s.points}

