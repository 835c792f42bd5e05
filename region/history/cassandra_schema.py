"""The Cassandra warm store's tables and statements (their shapes are explained in cassandra.py)."""

from __future__ import annotations

import zlib

BOARDS_SCOPE = "boards"      # the one partition of board_definitions
# Partitions of one board-season's score history. Fixed: rows are found by it (changing it needs a
# new table). 64: a 1000-row write has ~16 rows per partition, a 10M-row season ~6 MB per partition.
HISTORY_BUCKETS = 64

TABLES = [
    """CREATE TABLE IF NOT EXISTS board_scores (board text, bucket int, player text, achieved_at_ms bigint,
       event_id text, score bigint, PRIMARY KEY ((board, bucket), player, achieved_at_ms, event_id))
       WITH CLUSTERING ORDER BY (player ASC, achieved_at_ms DESC, event_id DESC)""",
    """CREATE TABLE IF NOT EXISTS board_snapshots (board text, taken_at_ms bigint, rank_bucket int, rank int,
       player text, score bigint, achieved_at_ms bigint, PRIMARY KEY ((board, taken_at_ms, rank_bucket), rank))""",
    """CREATE TABLE IF NOT EXISTS snapshot_index (board text, taken_at_ms bigint, season int, "entries" int,
       PRIMARY KEY (board, taken_at_ms)) WITH CLUSTERING ORDER BY (taken_at_ms DESC)""",
    """CREATE TABLE IF NOT EXISTS rank_history (board text, player text, taken_at_ms bigint, rank int, score bigint,
       PRIMARY KEY ((board, player), taken_at_ms)) WITH CLUSTERING ORDER BY (taken_at_ms DESC)""",
    """CREATE TABLE IF NOT EXISTS board_definitions (scope text, board text, definition text,
       PRIMARY KEY (scope, board))""",
]


def queries(ks: str) -> dict[str, str]:
    return {
        "hist_put": f"INSERT INTO {ks}.board_scores (board, bucket, player, achieved_at_ms, event_id, score) "
                    "VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
        "hist_get": f"SELECT achieved_at_ms, event_id, score FROM {ks}.board_scores WHERE board = ? AND bucket = ? "
                    "AND player = ? AND achieved_at_ms >= ? AND achieved_at_ms < ? LIMIT ?",
        "hist_tie": f"SELECT achieved_at_ms, event_id, score FROM {ks}.board_scores WHERE board = ? AND bucket = ? "
                    "AND player = ? AND achieved_at_ms = ? AND event_id < ? LIMIT ?",
        "hist_scan": f"SELECT player, achieved_at_ms, event_id, score FROM {ks}.board_scores "
                     "WHERE board = ? AND bucket = ?",
        "hist_any": f"SELECT player FROM {ks}.board_scores WHERE board = ? AND bucket IN ? LIMIT 1",
        "snap_put": f"INSERT INTO {ks}.board_snapshots (board, taken_at_ms, rank_bucket, rank, player, score, "
                    "achieved_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
        "rank_put": f"INSERT INTO {ks}.rank_history (board, player, taken_at_ms, rank, score) "
                    "VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?",
        "index_put": f"INSERT INTO {ks}.snapshot_index (board, taken_at_ms, season, \"entries\") "
                     "VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
        "index_get": f"SELECT taken_at_ms, season, \"entries\" FROM {ks}.snapshot_index WHERE board = ? "
                     "AND taken_at_ms < ? LIMIT ?",
        "index_one": f"SELECT season, \"entries\" FROM {ks}.snapshot_index WHERE board = ? AND taken_at_ms = ?",
        "snap_get": f"SELECT rank, player, score, achieved_at_ms FROM {ks}.board_snapshots "
                    "WHERE board = ? AND taken_at_ms = ? AND rank_bucket = ?",
        "snap_range": f"SELECT rank, player, score, achieved_at_ms FROM {ks}.board_snapshots "
                      "WHERE board = ? AND taken_at_ms = ? AND rank_bucket = ? AND rank >= ? AND rank <= ?",
        "rank_get": f"SELECT taken_at_ms, rank, score FROM {ks}.rank_history WHERE board = ? AND player = ? "
                    "AND taken_at_ms >= ? AND taken_at_ms < ? LIMIT ?",
        "board_put": f"INSERT INTO {ks}.board_definitions (scope, board, definition) VALUES (?, ?, ?)",
        "board_del": f"DELETE FROM {ks}.board_definitions WHERE scope = ? AND board = ?",
        "boards_get": f"SELECT definition FROM {ks}.board_definitions WHERE scope = ?",
    }


def history_bucket(player: str) -> int:
    """The board_scores partition of a player (crc32: stable across processes, computed in C)."""
    return zlib.crc32(player.encode()) % HISTORY_BUCKETS
