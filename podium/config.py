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
    operation_cache_entries_max: int = 1000  # prepared (parsed, validated, cost-compiled) documents per schema (0: off)
    operation_cache_document_bytes_max: int = 16_384  # longer documents are prepared per request, never kept
    top_snapshot_entries: int = 1000         # top entries each process keeps in memory per hot board (0: off)
    top_snapshot_boards_max: int = 64        # hot boards whose top is kept (LRU by read)
    persisted_queries_max: int = 10_000      # automatic persisted queries registered by clients (hash -> document)


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


class HistorySettings(BaseModel):
    enabled: bool = True                     # score history, snapshots, board definitions (false: Redis only, no recovery)
    cassandra_contact_points: list[str] = Field(default_factory=list)
    cassandra_port: int = 9042
    cassandra_keyspace: str = "podium"
    cassandra_protocol_version: int = 4
    cassandra_consistency: str = "LOCAL_QUORUM"
    sqlite_path: str | None = None           # unset: <data_dir>/history.sqlite3
    snapshot_interval_s: int = 3600          # periodic snapshots of every board (0: none)
    snapshot_dir: str | None = None          # unset: <data_dir>/snapshots
    write_queue_rows_max: int = 100_000      # accepted scores waiting for the warm store; beyond, new rows are dropped (counted, logged)
    write_batch_rows_max: int = 2000         # rows per warm-store write
    write_retry_ms_max: int = 5000           # backoff cap while the warm store fails (rows stay queued)
    close_drain_ms_max: int = 10_000         # at shutdown, queued rows get this long to reach the store
    worker_flush_ms_max: int = 5000          # the stream worker waits this long per micro-batch for its history rows
    rebuild_on_start: bool = True            # rebuild boards found empty in Redis but present in the warm store
    rebuild_lease_ms: int = 60_000           # a rebuild's lock lapses after this unless renewed (a dead rebuilder frees the board)
    rebuild_settle_ms: int = 1500            # after locking, wait for every process to see it (board registry refresh) before reading


class GlobalSettings(BaseModel):
    top_k: int = 1000                        # exact tier size
    approximate_rank_max: int = 100_000      # ranks above this are ESTIMATED
    sketch_refresh_ms: int = 5000
    coarse_sketch_refresh_ms: int = 30_000
    strong_top_max: int = 100
    strong_timeout_ms: int = 1000
    url: str | None = None                   # where a region ships its changes (embedded: HTTP)
    stale_after_ms: int = 5000               # a region not heard from for this long is labelled stale
    region_urls: dict[str, str] = Field(default_factory=dict)  # region -> base URL (STRONG / SESSION reads)
    session_wait_ms: int = 500               # SESSION reads wait this long for replication before reading through


class ReplicationSettings(BaseModel):
    secret: str | None = None                # HMAC secret shared by regions and the global tier
    outbox_len_max: int = 1_000_000          # alarm when the outbox reaches this
    ship_batch_max: int = 1000
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
    redis_pool_connections_max: int = 64
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

    @model_validator(mode="after")
    def _jwt_algorithms_fit_the_key(self) -> Settings:
        """A mis-set algorithm list would fail every token check at request time (or, with HS256 and a
        public key, invite key confusion): refuse to start instead."""
        unknown = [a for a in self.jwt_algorithms if a not in JWT_SYMMETRIC | JWT_ASYMMETRIC]
        if unknown or not self.jwt_algorithms:
            raise ValueError(f"jwt_algorithms {self.jwt_algorithms!r}: each must be one of "
                             f"{sorted(JWT_SYMMETRIC | JWT_ASYMMETRIC)}")
        symmetric = [a for a in self.jwt_algorithms if a in JWT_SYMMETRIC]
        if (self.jwt_public_key or self.jwt_jwks_url) and symmetric:
            raise ValueError(f"jwt_algorithms {symmetric!r} are HMAC algorithms but a public key / JWKS is configured: "
                             "use RS256/ES256/... with a public key, or HS256 with jwt_secret")
        if self.jwt_secret and not (self.jwt_public_key or self.jwt_jwks_url) and len(symmetric) != len(self.jwt_algorithms):
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
