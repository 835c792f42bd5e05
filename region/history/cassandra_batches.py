"""UNLOGGED batches of one prepared upsert, built from column values without a BoundStatement per
row: the warm-store writer's hot path.

Why not `PreparedStatement.bind` per row: binding checks and serializes every value through the
driver's generic type machinery and makes a statement object per row. Measured on the history
bench, that was most of the client's CPU per written row (the client ran at ~35k rows per CPU-s,
docs/history.md). The upserts here only carry text, int and bigint values, whose wire form is
plain (UTF-8 bytes, 4- and 8-byte big-endian), so each statement's columns get a direct encoder
once, and a batch holds the (query id, encoded values) triples the driver would have built itself.
"""

from __future__ import annotations

import struct
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cassandra.query import BatchStatement, BatchType, PreparedStatement
from podium.region.history.store import ScoreRow

Encoder = Callable[[Any], bytes]
Row = Sequence[bytes]   # one statement's encoded values, in bind-marker order

_DIRECT: dict[str, Encoder] = {
    "varchar": str.encode,
    "text": str.encode,
    "ascii": str.encode,
    "int": struct.Struct(">i").pack,
    "bigint": struct.Struct(">q").pack,
}
_KEY_PART = struct.Struct(">H")
BATCH_STATEMENTS_MAX = 0xFFFF   # the protocol's count of a batch's statements is a short


def _column_encoder(cql_type: Any, protocol_version: int) -> Encoder:
    direct = _DIRECT.get(cql_type.typename)
    if direct is not None:
        return direct
    # Any other type: the driver's own serializer (the same bytes bind() would produce).
    return lambda value: bytes(cql_type.serialize(value, protocol_version))


class UpsertEncoder:
    """Encodes rows for one prepared statement (values in its bind-marker order, none None: every
    upsert here sets every column) and packs them into batches."""

    def __init__(self, prepared: PreparedStatement, protocol_version: int) -> None:
        self.query_id = prepared.query_id
        columns = prepared.column_metadata
        # where BoundStatement takes it from (the statement's own keyspace is unset for qualified names)
        self.keyspace = columns[0].keyspace_name if columns else prepared.keyspace
        self.encoders = [_column_encoder(col.type, protocol_version) for col in columns]
        self.key_indexes: list[int] = list(prepared.routing_key_indexes or [])

    def values(self, row: Sequence[Any]) -> list[bytes]:
        return [encode(value) for encode, value in zip(self.encoders, row, strict=True)]

    def routing_key(self, values: Sequence[bytes]) -> bytes | None:
        """The partition key as the driver routes it (a composite key: each part length-prefixed
        and followed by a zero byte)."""
        if not self.key_indexes:
            return None
        if len(self.key_indexes) == 1:
            return values[self.key_indexes[0]]
        return b"".join(_KEY_PART.pack(len(values[i])) + values[i] + b"\x00" for i in self.key_indexes)

    def batch(self, rows: Sequence[Sequence[bytes]], routing_key: bytes | None) -> BatchStatement:
        """One UNLOGGED batch of encoded rows, routed (token-aware) by `routing_key`."""
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        batch.routing_key = routing_key
        batch.keyspace = self.keyspace
        if len(rows) > BATCH_STATEMENTS_MAX:
            raise ValueError(f"a batch holds at most {BATCH_STATEMENTS_MAX} statements")
        # What BatchStatement.add(bound) appends for a bound statement, minus the bound statement
        # (private, but the one place encoded values go), in one extend: a call per row was a
        # quarter of the writer's encoding (py-spy, docs/history.md).
        query_id = self.query_id
        batch._statements_and_parameters.extend([(True, query_id, values) for values in rows])
        return batch


def split_batches(rows: Sequence[Row], rows_max: int, bytes_max: int,
                  row_bytes_max: int | None = None) -> list[Sequence[Row]]:
    """`rows` in order, cut into runs of ≤ `rows_max` rows and ≤ `bytes_max` bytes of values (a
    row bigger than `bytes_max` alone). The byte bound keeps a batch under the node's
    batch_size_fail_threshold (50 KiB by default) whatever the ids' lengths; the row bound keeps
    one request's work small. Given `row_bytes_max` (no row has more bytes), runs are cut by
    count alone, as many rows as surely fit: no size summed per row (the writer's hot path)."""
    if row_bytes_max is not None:
        n = max(1, min(rows_max, bytes_max // max(row_bytes_max, 1)))
        return [rows[i : i + n] for i in range(0, len(rows), n)]
    out: list[Sequence[Row]] = []
    start, size = 0, 0
    for i, values in enumerate(rows):
        row_bytes = sum(map(len, values))
        if i > start and (i - start >= rows_max or size + row_bytes > bytes_max):
            out.append(rows[start:i])
            start, size = i, 0
        size += row_bytes
    if start < len(rows):
        out.append(rows[start:])
    return out


_I64 = struct.Struct(">q").pack


def score_partitions(rows: Iterable[ScoreRow], buckets: int) -> tuple[dict[tuple[str, int], list[Row]], int]:
    """The board_scores upsert's encoded values for each row, by partition (board, crc32 of the
    player mod `buckets`), and the most bytes of values any row has: the writer's hot loop, so the
    values are encoded here in one pass, in its bind-marker order (board, bucket, player,
    achieved_at_ms, event_id, score, timestamp µs), each row a tuple, tested equal to
    `UpsertEncoder.values`."""
    out: dict[tuple[str, int], list[Row]] = defaultdict(list)
    longest = 0   # player + event id bytes (the other values: the board's bytes and 28 fixed)
    boards: dict[str, bytes] = {}
    bucket_bytes = [struct.pack(">i", b) for b in range(buckets)]
    for r in rows:
        player = r.player.encode()
        bucket = zlib.crc32(player) % buckets
        board = boards.get(r.board)
        if board is None:
            board = boards[r.board] = r.board.encode()
        ts = r.achieved_at_ms
        event = r.event_id.encode()
        size = len(player) + len(event)
        longest = max(longest, size)
        # a tuple, not a list: a tuple of bytes leaves the cyclic GC's care after its first pass,
        # a list stays in it, and every collection walked the page's 50k lists again
        out[(r.board, bucket)].append((board, bucket_bytes[bucket], player, _I64(ts), event,
                                       _I64(r.score), _I64(ts * 1000)))
    boards_max = max(map(len, boards.values()), default=0)
    return out, (longest + boards_max + 28 if out else 0)
