"""A Java server's jars fetched from Maven Central by a `pom.xml` in the source checkout, cached per
version (Kafka's broker, Cassandra).

`mvn dependency:copy-dependencies` copies the artifact and its runtime dependencies into
`~/.cache/podium/<name>-<version>/libs` once; later runs find the `.complete` marker and start at once.
A file lock keeps two processes (a test session and `podium up`) from fetching into the same
directory at the same time. The JVM's class-data-sharing archives live next to the jars.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from podium.errors import Unavailable

FETCH_TIMEOUT_S = 900.0
_COMPLETE = ".complete"


def java_binary(why: str = "Java 17+") -> str:
    java = shutil.which("java")
    if java is None:
        raise Unavailable(f"java is not on PATH ({why}): run .ci/setup-kafka.sh")
    return java


@dataclass(frozen=True, slots=True)
class MavenDist:
    name: str              # "kafka", "cassandra": the cache directory's and the env variables' stem
    default_version: str
    pom_folder: str        # the checkout's folder holding pom.xml
    version_property: str  # the pom property the version overrides
    main_jar: str          # glob, with {version}, of the jar that proves the fetch worked

    @property
    def _env(self) -> str:
        return f"PODIUM_{self.name.upper()}"

    def version(self) -> str:
        """PODIUM_<NAME>_VERSION, else the version this release is tested with."""
        return os.environ.get(f"{self._env}_VERSION", self.default_version)

    def pom_path(self) -> Path:
        return Path(__file__).resolve().parents[2] / self.pom_folder / "pom.xml"

    def cache_dir(self, version: str | None = None) -> Path:
        """PODIUM_<NAME>_HOME, else ~/.cache/podium/<name>-<version> (XDG_CACHE_HOME is honoured)."""
        explicit = os.environ.get(f"{self._env}_HOME")
        if explicit:
            return Path(explicit)
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return base / "podium" / f"{self.name}-{version or self.version()}"

    def ensure_jars(self, version: str | None = None) -> Path:
        """The directory holding the jars, fetched with Maven on first use."""
        version = version or self.version()
        home = self.cache_dir(version)
        libs = home / "libs"
        if (libs / _COMPLETE).exists():
            return libs
        home.mkdir(parents=True, exist_ok=True)
        with open(home / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (libs / _COMPLETE).exists():
                self._fetch(version, libs)
        return libs

    def _fetch(self, version: str, libs: Path) -> None:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise Unavailable(f"mvn is not on PATH ({self.name}'s jars come from Maven Central): run .ci/setup-kafka.sh")
        pom = self.pom_path()
        if not pom.exists():
            raise Unavailable(f"{pom} is missing: {self.name} is fetched from a source checkout")
        staging = libs.with_name("libs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            done = subprocess.run(
                [mvn, "-q", "-B", "-f", str(pom), f"-D{self.version_property}={version}", "-DincludeScope=runtime",
                 f"-DoutputDirectory={staging}", "dependency:copy-dependencies"],
                capture_output=True, timeout=FETCH_TIMEOUT_S, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"fetching {self.name} {version} with Maven took over {FETCH_TIMEOUT_S:.0f}s") from exc
        if done.returncode != 0 or not any(staging.glob(self.main_jar.format(version=version))):
            tail = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
            raise Unavailable(f"Maven could not fetch {self.name} {version} (exit {done.returncode}): {tail}")
        (staging / _COMPLETE).write_text(version)
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)

    def write_config(self, filename: str, text: str, version: str | None = None) -> Path:
        """A configuration file next to the jars (atomically replaced when its text changes)."""
        path = self.cache_dir(version) / filename
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            tmp.replace(path)
        return path

    def classpath(self, version: str | None = None) -> str:
        return str(self.ensure_jars(version) / "*")

    def class_archive(self, kind: str, version: str | None = None) -> Path:
        """Where the JVM's class-data-sharing archive for `kind` lives: mapping thousands of classes
        from it instead of loading them from the jars makes a JVM start several times faster. It
        belongs to one Java build, so the path names it."""
        java = Path(java_binary()).resolve()
        build = f"{java.parent.parent.name}-{int(java.stat().st_mtime)}"
        return self.cache_dir(version) / "cds" / f"{kind}-{build}.jsa"
