"""A local multi-region stack as real processes: one redis-server per region and one for the
global tier, each region and the global tier a `podium serve` process on its own port. Used by
`podium up --regions …`, the end-to-end tests and the benchmarks."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from podium.devtools.stack_writer import WriterProcess
from podium.processes import stop_process, wait_ready
from podium.redis_server import RedisServer, free_port

READY_TIMEOUT_S = 90.0   # a cold start imports for seconds; a loaded machine is slower still
WRITER_NICE = 10         # a region's history writer process yields the CPU to the servers (stack_writer)


class StackFailed(RuntimeError):
    """A node of the stack exited or did not become ready (the message names it and its log)."""


@dataclass
class Node:
    name: str
    role: str
    port: int
    redis: RedisServer
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    regions: list[str]
    data_dir: Path
    boards: Sequence[Mapping[str, object]] = field(default_factory=lambda: [{"id": "arena"}])
    game_key_id: str = "demo-game-server"
    game_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    admin_key: str = field(default_factory=lambda: secrets.token_hex(16))
    replication_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    extra_env: dict[str, str] = field(default_factory=dict)
    ready_timeout_s: float = READY_TIMEOUT_S   # per node; a loaded CI machine imports slowly
    first_region_port: int | None = None   # the first region serves here (podium up: the documented 8080)
    nodes: list[Node] = field(default_factory=list)
    python: str = sys.executable   # the interpreter of every node (a bench runs a previous checkout's)
    # each region's history writer as its own process (`podium history-writer`, podium.devtools.stack_writer)
    # instead of a thread of its server; `podium up --regions` supervises them (restart on exit)
    separate_history_writers: bool = False
    writers: dict[str, WriterProcess] = field(default_factory=dict)

    @property
    def global_node(self) -> Node:
        return next(n for n in self.nodes if n.role == "global")

    def region_node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.role == "region" and n.name == name)

    def _env(self, node: Node, global_url: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_") and k != "REDIS_URL"}
        env.update({
            "REDIS_URL": node.redis.url,
            "PODIUM_REGION": node.name,
            "PODIUM_HOST": "127.0.0.1",
            "PODIUM_PORT": str(node.port),
            "PODIUM_GAME_SERVER_KEYS": json.dumps({self.game_key_id: self.game_secret}),
            "PODIUM_ADMIN_KEYS": json.dumps([self.admin_key]),
            "PODIUM_REPLICATION__SECRET": self.replication_secret,
            "PODIUM_BOARDS": json.dumps(self.boards),
            "PODIUM_DATA_DIR": str(self.data_dir / node.name),   # each region its own warm store
        })
        if node.role == "region":
            env["PODIUM_GLOBAL__URL"] = global_url
            if self.separate_history_writers:
                env["PODIUM_HISTORY__WRITER_PLACEMENT"] = "separate"
        else:
            env["PODIUM_GLOBAL__REGION_URLS"] = json.dumps(
                {n.name: n.url for n in self.nodes if n.role == "region"})
        env.update(self.extra_env)
        return env

    def start(self) -> Self:
        try:
            names = [("global", "global")] + [(r, "region") for r in self.regions]
            for name, role in names:
                redis = RedisServer(self.data_dir / name / "redis", appendonly=True).start()
                pinned = self.first_region_port if role == "region" and name == self.regions[0] else None
                self.nodes.append(Node(name, role, pinned or free_port(), redis))
            global_url = self.global_node.url
            for node in self.nodes:
                self._spawn(node, global_url)
            for node in self.nodes:
                self._wait_ready(node)
            # once the nodes serve (they would share the CPU while importing), below their priority
            for node in self.nodes:
                if node.role == "region" and self.separate_history_writers:
                    writer = self.writers[node.name] = WriterProcess(
                        self._env(node, global_url), self.data_dir / node.name / "history-writer.log", self.python,
                        nice=WRITER_NICE)
                    writer.spawn()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, node: Node, global_url: str) -> None:
        node.log_path = self.data_dir / node.name / "podium.log"
        log = node.log_path.open("ab")
        node.process = subprocess.Popen(
            [self.python, "-m", "podium", "serve", "--role", node.role],
            env=self._env(node, global_url), stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir / node.name,
        )
        log.close()

    def _wait_ready(self, node: Node) -> None:
        proc = node.process
        if wait_ready(node.url, self.ready_timeout_s, alive=lambda: proc is None or proc.poll() is None):
            return
        if proc is not None and proc.poll() is not None:
            tail = node.log_path.read_text()[-3000:] if node.log_path else ""
            raise StackFailed(f"{node.role} {node.name} exited with {proc.returncode} (log: {node.log_path}):\n{tail}")
        raise StackFailed(f"{node.role} {node.name} not ready on {node.url} within {READY_TIMEOUT_S:.0f} s (log: {node.log_path})")

    def stop_node(self, node: Node) -> None:
        proc, node.process = node.process, None
        if proc is not None:
            stop_process(proc, 15)

    def restart_node(self, node: Node) -> None:
        self.stop_node(node)
        self._spawn(node, self.global_node.url)
        self._wait_ready(node)

    def stop(self) -> None:
        for writer in self.writers.values():   # first: each drains what it can into its warm store
            writer.stop()
        for node in reversed(self.nodes):
            self.stop_node(node)
            node.redis.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
