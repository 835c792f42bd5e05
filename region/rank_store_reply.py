"""apply.lua's reply read two ways: an `ApplyOutcome` per entry (`outcomes`, the general path) or
lazily (`AppliedLog`: the HTTP ingest path builds its results from the columns, the stream worker
reads only the applied entries), since an outcome object per entry was the largest per-entry cost
left on both paths."""

from __future__ import annotations

from typing import Any

from podium.region.rank_store import ApplyCode, ApplyOutcome

# apply.lua's outcome codes, as the reply carries them (bytes with hiredis / decode_responses off, else str)
_APPLY_CODES: dict[bytes | str, ApplyCode] = {c.value.encode(): c for c in ApplyCode} | {c.value: c for c in ApplyCode}
_APPLIED = ApplyCode.APPLIED
_APPLIED_CODE_BYTES = _APPLIED.value.encode()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def outcomes(raw: list[Any]) -> list[ApplyOutcome]:
    """3 items per entry: code, rank (an integer reply), score (digits, "" when none), then the
    version; int() takes bytes and str alike, and the code is a dict lookup rather than an enum call."""
    version = _text(raw[-1]) or None
    codes = [_APPLY_CODES[c] for c in raw[0:-1:3]]
    return [ApplyOutcome(code, rank or None, int(shown) if shown else None, version if code is _APPLIED else None)
            for code, rank, shown in zip(codes, raw[1:-1:3], raw[2:-1:3], strict=True)]


class AppliedLog:
    """The reply read lazily (an `ApplyReply`): which entries were applied, at what rank and score,
    without an outcome object per entry."""

    __slots__ = ("_raw", "version")

    def __init__(self, raw: list[Any]) -> None:
        self._raw = raw
        self.version: str | None = _text(raw[-1]) or None   # the change-stream id of the applied entries

    def columns(self) -> tuple[list[Any], list[Any], list[Any]]:
        raw = self._raw
        return raw[0:-1:3], raw[1:-1:3], raw[2:-1:3]

    def applied(self) -> list[tuple[int, int, int]]:
        """(entry index, rank, score) of each applied entry, in entry order."""
        codes, ranks, scores = self.columns()
        applied = _APPLIED_CODE_BYTES if codes and isinstance(codes[0], bytes) else _APPLIED.value
        return [(i, ranks[i], int(scores[i])) for i, c in enumerate(codes) if c == applied]
