"""The Dockerfile, read statically: multi-stage, numeric non-root user matching the chart, entry point."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from podium.devtools.deploy import dockerfile
from podium.devtools.deploy.results import CheckFailed

from .conftest import ROOT

CHART_VALUES = {"podSecurityContext": {"runAsUser": 10001}}


def test_repository_dockerfile_passes() -> None:
    assert dockerfile.check(ROOT / "Dockerfile", CHART_VALUES) == '2 stages, USER 10001:10001, ENTRYPOINT ["podium"]'


def test_continuations_and_comments_are_joined() -> None:
    stages = dockerfile.parse("FROM a AS build\nRUN x \\\n    # note\n    && y\nFROM b\nUSER 1\n")
    assert [(s.base, s.name) for s in stages] == [("a", "build"), ("b", None)]
    assert stages[0].instructions == [("RUN", "x      && y")]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("USER 10001:10001", "USER podium"), "numeric non-root USER"),
    (lambda t: t.replace("USER 10001:10001", "USER 0"), "numeric non-root USER"),
    (lambda t: t.replace("USER 10001:10001", "USER 1000"), "USER 1000 differs from the chart's podSecurityContext.runAsUser 10001"),
    (lambda t: t.replace('ENTRYPOINT ["podium"]', "ENTRYPOINT podium"), 'ENTRYPOINT must be the exec form ["podium"]'),
    (lambda t: t.split("FROM python:3.11-slim-bookworm AS runtime")[1].replace("COPY --from=build", "COPY"),
     "not multi-stage"),
])
def test_faults_are_caught(tmp_path: Path, edit: object, message: str) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(edit((ROOT / "Dockerfile").read_text()))  # type: ignore[operator]
    with pytest.raises(CheckFailed, match=re.escape(message)):
        dockerfile.check(path, CHART_VALUES)
