"""A real PostgreSQL server for tests and benchmarks, from Debian's `postgresql` package.

initdb into a fresh directory, start on a free loopback port with trust authentication, stop with
`pg_ctl stop -m immediate`. PostgreSQL refuses to run as root, so as root the server runs as the
package's `postgres` user (its directory is handed to that user)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

START_TIMEOUT_S = 60.0


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        raise FileNotFoundError("PostgreSQL is not installed: apt-get install -y postgresql (see .ci/setup-contests.sh)")
    return Path(pg_ctl).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="podium-pg-"))
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=START_TIMEOUT_S)

    def start(self) -> Self:
        data = self.dir / "data"
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        done = self._run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on -c shared_buffers=32MB"
        done = self._run("pg_ctl", "start", "-D", str(data), "-w", "-t", str(int(START_TIMEOUT_S)),
                         "-l", str(self.dir / "server.log"), "-o", opts)
        if done.returncode != 0:
            log = (self.dir / "server.log").read_text()[-2000:] if (self.dir / "server.log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr[-1000:]} {log}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise RuntimeError("PostgreSQL is not accepting connections")

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-D", str(self.dir / "data"), "-m", "immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
