"""A writable copy of the deployable artefacts (helm/, terraform/, Dockerfile), for breaking them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_PATHS = ("helm", "terraform", "Dockerfile", ".checkov.yaml")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    for name in DEPLOY_PATHS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


@pytest.fixture
def no_checkov(monkeypatch: pytest.MonkeyPatch) -> None:
    """checkov (when installed) is exercised by the repository run; broken copies skip it."""
    monkeypatch.setenv("PODIUM_CHECKOV", "/nonexistent/checkov")
