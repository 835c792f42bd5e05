"""Runs mypy (pyproject.toml's `[tool.mypy]`) over the sources laid out as the installed package.

`mypy podium region global replication` checks `region/` as a top-level package `region`, and mypy
cannot follow `podium.region.…` imports through the editable install: `ignore_missing_imports`
then types every cross-tier import as `Any`, unchecked. Laid out as `podium.region`, … (the layout
of the import-contract check) those imports resolve, so the tiers are checked against each other.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from podium.devtools.import_contracts import PACKAGE_DIRS, lay_out, run_check


def check(root: Path) -> subprocess.CompletedProcess[str]:
    """mypy over the sources under `root`; its output (paths as in the checkout) and exit code."""
    with tempfile.TemporaryDirectory(prefix="podium-mypy-") as tmp:
        lay_out(root, Path(tmp))
        result = subprocess.run(
            [sys.executable, "-m", "mypy", "--config-file", str(root / "pyproject.toml"),
             "--cache-dir", str(root / ".mypy_cache" / "laid-out"), "podium"],
            cwd=tmp, capture_output=True, text=True, check=False)
    # Longest first: `podium/region/` before `podium/`.
    for target, source in sorted(PACKAGE_DIRS.items(), key=lambda item: -len(item[0])):
        if target != source:
            result.stdout = result.stdout.replace(f"{target}/", f"{source}/")
    return result


def main(argv: list[str] | None = None) -> int:
    return run_check(check, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
