"""joinContest, batched: concurrent joins are grouped (`MicroBatcher`: a few ms, a bounded queue)
and a batch costs three Redis round trips (read the teams, enter every join, record the joined
contests on the teams) and one shared ledger commit, whatever its size. Each join gets the answer
and the error it would get alone, checked in the same order: unknown contest, deadline (server
time here, Redis time in the store), unknown team, team rules, capacity and per-player entries,
ledger conflict. An entry holds the team as it is when the join is recorded on it: a save between
the batch's read and the recording is caught up (see `_record_joined`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson
from podium.region.contests.joins_redis import RedisJoins
from podium.region.contests.ledger import PostResult, transfer
from podium.region.contests.ledger_batcher import LedgerBatcher
from podium.region.contests.micro_batcher import MicroBatcher
from podium.region.contests.model import Contest, Match, Team
from podium.region.contests.store_redis import composition
from podium.region.contests.teams import check_team, multipliers

from podium.clock import Clock
from podium.errors import Conflict, ContestLocked, NotFound, PodiumError, Unavailable


class StoredTeam(msgspec.Struct, frozen=True):
    """A saved team as `store_redis` keeps it (validated by `Team.from_dict` when it was saved)."""

    owner: str
    id: str
    match: str
    players: list[str]
    captain: str
    vice: str
    version: int
    contests: list[str] = []


_decode_team = msgspec.json.Decoder(StoredTeam).decode
RECORD_ATTEMPTS_MAX = 16     # rounds of bringing a join's entry up to a team saved meanwhile, then 503


@dataclass(frozen=True, slots=True)
class JoinLimits:
    window_ms: float = 1.0          # a join waits at most this long for others to share its batch
    batch_max: int = 1000           # joins per batch (one Lua call per contest holds Redis for the batch)
    pending_max: int = 50_000       # joins waiting for a batch; beyond it joins get 503
    flushes_max: int = 4            # batches in flight at once (Redis work of one overlaps another's ledger commit)


@dataclass(slots=True)
class _Ready:
    """A join past the checks done before Redis: its contest, match, team key and saved team."""

    index: int
    contest: Contest
    match: Match
    key: str
    team: Team | None = None
    saved: StoredTeam | None = None
    comp: str = ""                  # the composition its entry was made with (or brought up to)


class Joins:
    def __init__(self, entries: RedisJoins, ledger: LedgerBatcher, clock: Clock,
                 contest_of: Callable[[str], Awaitable[Contest]], match_of: Callable[[str], Awaitable[Match]],
                 limits: JoinLimits) -> None:
        self.entries = entries
        self.ledger = ledger
        self.clock = clock
        self._contest_of = contest_of
        self._match_of = match_of
        self.batcher: MicroBatcher[tuple[str, str, str], dict[str, Any]] = MicroBatcher(
            self._flush, window_ms=limits.window_ms, batch_max=limits.batch_max, pending_max=limits.pending_max,
            flushes_max=limits.flushes_max, label="joinContest")

    async def join(self, owner: str, contest_id: str, team_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.batcher.submit((owner, contest_id, team_id))
        return answer

    async def _flush(self, batch: list[tuple[str, str, str]]) -> list[dict[str, Any] | BaseException]:
        out: list[dict[str, Any] | BaseException | None] = [None] * len(batch)
        ready: list[_Ready] = []
        # Each distinct contest of the batch is looked up once (a batch is mostly one contest's joins)
        # (a failed lookup is not kept: each join gets its own error object)
        defs: dict[str, tuple[Contest, Match]] = {}
        now = self.clock.now_ms()
        for i, (owner, contest_id, team_id) in enumerate(batch):
            found = defs.get(contest_id)
            if found is None:
                try:
                    contest = await self._contest_of(contest_id)
                    found = defs[contest_id] = (contest, await self._match_of(contest.match))
                except PodiumError as exc:
                    out[i] = exc
                    continue
            if now >= found[1].deadline_ms:
                out[i] = ContestLocked(f"match {found[1].id} locked at {found[1].deadline_ms}")
            else:
                ready.append(_Ready(i, found[0], found[1], f"{owner}/{team_id}"))
        wanted: dict[str, list[str]] = {}
        for r in ready:
            wanted.setdefault(r.match.id, []).append(r.key)
        raws = await self.entries.teams(wanted) if wanted else {}
        position = dict.fromkeys(wanted, 0)
        entering: dict[str, tuple[int, int, list[tuple[str, str, str]]]] = {}
        valid: list[_Ready] = []
        for r in ready:
            raw = raws[r.match.id][position[r.match.id]]
            position[r.match.id] += 1
            try:
                r.saved, r.team = _team(r, raw)
                check_team(r.team, r.match, r.contest.rules)
            except PodiumError as exc:
                out[r.index] = exc
                continue
            comp = r.comp = composition(r.team, multipliers(r.team, r.contest.rules), r.saved.version)
            group = entering.setdefault(r.contest.id, (r.contest.capacity, r.contest.entries_per_player_max, []))
            group[2].append((r.key, r.team.owner, comp))
            valid.append(r)
        codes = await self.entries.enter(entering) if entering else {}
        await self._record_joined(valid, codes, out)
        await self._charge(valid, codes, out)
        return [o if o is not None else RuntimeError("join left unanswered") for o in out]

    async def _record_joined(self, valid: list[_Ready], codes: dict[str, list[int]],
                             out: list[dict[str, Any] | BaseException | None]) -> None:
        """Adds each newly joined contest to its team's list (save_team carries edits into them). The
        list is extended inside Redis (`RedisJoins.record_joined`), not rewritten from the copy read
        at the start of the batch, so concurrent batches joining one team to other contests all land.
        A join is recorded only at the team version its entry holds: a team saved after this batch
        read it comes back, its entry is brought up to that version (or withdrawn, if the contest
        refuses the new line-up) and recording is tried again. Once recorded, later saves update it."""
        pending: list[_Ready] = []
        taken = dict.fromkeys(codes, 0)
        for r in valid:
            code = codes[r.contest.id][taken[r.contest.id]]
            taken[r.contest.id] += 1
            if code == 1:
                pending.append(r)
        for _ in range(RECORD_ATTEMPTS_MAX):
            if not pending:
                return
            joined: dict[str, tuple[int, list[tuple[str, str, int]]]] = {}
            for r in pending:
                assert r.saved is not None
                joined.setdefault(r.match.id, (r.match.deadline_ms, []))[1].append((r.key, r.contest.id, r.saved.version))
            replies = await self.entries.record_joined(joined)
            position = dict.fromkeys(joined, 0)
            again: list[_Ready] = []
            for r in pending:
                reply = replies[r.match.id][position[r.match.id]]
                position[r.match.id] += 1
                if isinstance(reply, bytes) and await self._catch_up(r, reply, out):
                    again.append(r)
            pending = again
        for r in pending:
            await self._refuse(r, Unavailable(f"team {r.key} changed {RECORD_ATTEMPTS_MAX} times while it joined: retry"), out)

    async def _catch_up(self, r: _Ready, raw: bytes, out: list[dict[str, Any] | BaseException | None]) -> bool:
        """Brings a join's entry to the team as saved since (`raw`); False when the join ends here
        (the contest refuses the new line-up, or locked meanwhile: the entry stays as it was)."""
        try:
            r.saved, r.team = _team(r, raw)
            check_team(r.team, r.match, r.contest.rules)
        except PodiumError as exc:
            await self._refuse(r, exc, out)
            return False
        comp = composition(r.team, multipliers(r.team, r.contest.rules), r.saved.version)
        if await self.entries.update(r.contest.id, r.key, r.team.owner, comp) == -1:
            return False
        r.comp = comp
        return True

    async def _refuse(self, r: _Ready, exc: PodiumError, out: list[dict[str, Any] | BaseException | None]) -> None:
        """Withdraws a join's entry and answers `exc`; once locked, the entry stays and is charged."""
        owner = r.key.split("/", 1)[0]
        if await self.entries.withdraw(r.contest.id, r.key, owner, r.comp) != -1:
            out[r.index] = exc

    async def _charge(self, valid: list[_Ready], codes: dict[str, list[int]],
                      out: list[dict[str, Any] | BaseException | None]) -> None:
        """Answers every entered join; posts the entry fees in one ledger commit (idempotent by id)."""
        taken = dict.fromkeys(codes, 0)
        fees, charged = [], []
        for r in valid:
            code = codes[r.contest.id][taken[r.contest.id]]
            taken[r.contest.id] += 1
            if out[r.index] is not None:        # withdrawn while it was recorded (`_refuse`)
                continue
            if code == -1:
                out[r.index] = ContestLocked(f"contest {r.contest.id} locked at {r.match.deadline_ms}")
            elif code == -2:
                out[r.index] = Conflict(f"contest {r.contest.id} is full ({r.contest.capacity} entries)")
            elif code == -3:
                out[r.index] = Conflict(f"at most {r.contest.entries_per_player_max} entries per player in this contest")
            else:
                out[r.index] = {"contest": r.contest.id, "entry": r.key, "joined": code == 1}
                if r.contest.entry_fee:
                    fees.append(transfer(f"fee:{r.contest.id}:{r.key}", "fee", f"player:{r.key.split('/', 1)[0]}",
                                         f"escrow:{r.contest.id}", r.contest.entry_fee))
                    charged.append(r.index)
        if not fees:
            return
        results = await self.ledger.post_many(fees)
        for index, fee, result in zip(charged, fees, results, strict=True):
            if isinstance(result, BaseException):
                out[index] = result
            elif result is PostResult.CONFLICT:
                out[index] = Conflict(f"ledger transaction {fee.id} exists with other postings")

    async def aclose(self) -> None:
        await self.batcher.aclose()


def _team(r: _Ready, raw: bytes | None) -> tuple[StoredTeam, Team]:
    if raw is None:
        raise NotFound(f"no team {r.key.split('/', 1)[1]!r} of {r.key.split('/', 1)[0]} for match {r.match.id}: save it first")
    try:
        saved = _decode_team(raw)
    except msgspec.ValidationError:       # an older document: the general parser says what is wrong
        doc = orjson.loads(raw)
        team = Team.from_dict(r.key.split("/", 1)[0], doc)
        return StoredTeam(team.owner, team.id, team.match, list(team.players), team.captain, team.vice,
                          int(doc.get("version", 1)), list(doc.get("contests", []))), team
    return saved, Team(saved.owner, saved.id, saved.match, tuple(saved.players), saved.captain, saved.vice)

