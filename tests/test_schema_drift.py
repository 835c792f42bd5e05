"""graphql/schema.graphql is exactly what `podium schema` exports (CI fails on drift)."""

from __future__ import annotations

from pathlib import Path

from podium.cli import main
from podium.commands.schema import global_sdl, sdl

ROOT = Path(__file__).resolve().parents[1]


def test_exported_schema_matches_code() -> None:
    assert (ROOT / "graphql/schema.graphql").read_text() == sdl(), "run `podium schema` and commit the result"
    assert (ROOT / "graphql/global.graphql").read_text() == global_sdl(), "run `podium schema` and commit the result"


def test_schema_check_detects_drift(tmp_path: Path) -> None:
    stale = tmp_path / "schema.graphql"
    stale.write_text("type Query { old: Int }\n")
    assert main(["schema", "--check", "--output", str(stale)]) == 1
    assert main(["schema", "--output", str(stale)]) == 0
    assert main(["schema", "--check", "--output", str(stale)]) == 0


def test_no_init_in_top_level_graphql_folder() -> None:
    assert not (ROOT / "graphql/__init__.py").exists(), "it would shadow graphql-core"
