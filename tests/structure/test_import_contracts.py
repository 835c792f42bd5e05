"""The layering written in pyproject.toml holds, and a wrong arrow breaks the check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from podium.devtools.import_contracts import check

ROOT = Path(__file__).resolve().parents[2]


def copy_checkout(dest: Path) -> Path:
    for folder in ("podium", "region", "global", "replication"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_repository_keeps_every_contract() -> None:
    result = check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("replication/shipper.py", "import podium.region.ingest", "replication below them"),
    ("global/service.py", "import podium.region.service", "region and global independent"),
    ("podium/model.py", "import podium.global_.service", "kernel at the bottom"),
    ("region/ingest.py", "import podium.devtools.stack", "Tooling"),
    ("podium/ranking.py", "import redis", "imports no I/O library"),
])
def test_a_forbidden_import_breaks_the_check(tmp_path: Path, module: str, line: str, contract: str) -> None:
    root = copy_checkout(tmp_path)
    target = root / module
    target.write_text(target.read_text() + f"\n{line}  # forbidden on purpose\n")
    result = check(root)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and contract in " ".join(result.stdout.split())
