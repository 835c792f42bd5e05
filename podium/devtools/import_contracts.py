"""Checks the import contracts of pyproject.toml (`[tool.importlinter]`) with import-linter.

The card's folders are mapped into one package by setuptools (`region/` → `podium.region`, …), a
layout import-linter cannot see through an editable install. So the check lays the sources out as
the installed package would be, in a temporary directory, and runs `lint-imports` there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# Where each folder of the checkout lands in the installed package (pyproject.toml's package-dir).
PACKAGE_DIRS = {"podium": "podium", "podium/region": "region", "podium/global_": "global",
                "podium/replication": "replication"}


def lay_out(root: Path, dest: Path) -> None:
    """Copies the Python sources of `root` into `dest` with the installed package's layout."""
    for target, source in PACKAGE_DIRS.items():
        for path in (root / source).rglob("*.py"):
            rel = path.relative_to(root / source)
            if target == "podium" and rel.parts[0] in ("region", "global_", "replication"):
                continue
            out = dest / target / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)


def check(root: Path) -> subprocess.CompletedProcess[str]:
    """Runs lint-imports against the sources under `root`; its output and exit code."""
    with tempfile.TemporaryDirectory(prefix="podium-imports-") as tmp:
        lay_out(root, Path(tmp))
        env = {**os.environ, "PYTHONPATH": tmp}
        lint = shutil.which("lint-imports") or "lint-imports"
        return subprocess.run([lint, str(root / "pyproject.toml"), "--no-cache"],
                              cwd=tmp, env=env, capture_output=True, text=True, check=False)


def run_check(check: Callable[[Path], subprocess.CompletedProcess[str]], description: str,
              argv: list[str] | None = None) -> int:
    """The command line of a check over a laid-out checkout (this one and `typecheck`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2],
                        help="the checkout to check (default: the one this package was installed from)")
    args = parser.parse_args(argv)
    result = check(args.root)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


def main(argv: list[str] | None = None) -> int:
    return run_check(check, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
