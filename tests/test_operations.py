"""Every operation document in graphql/operations validates against the exported schema it targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphql import build_schema, parse, validate

ROOT = Path(__file__).resolve().parents[1] / "graphql"
REGION = sorted((ROOT / "operations").glob("*.graphql"))
GLOBAL = sorted((ROOT / "operations" / "global").glob("*.graphql"))


@pytest.mark.parametrize("path", REGION + GLOBAL, ids=lambda p: p.name)
def test_operation_validates(path: Path) -> None:
    schema_file = "global.graphql" if path.parent.name == "global" else "schema.graphql"
    schema = build_schema((ROOT / schema_file).read_text())
    errors = validate(schema, parse(path.read_text()))
    assert errors == [], [e.message for e in errors]


def test_there_are_documents_for_every_root_field() -> None:
    text = "\n".join(p.read_text() for p in REGION)
    for field in ("leaderboard", "page", "around", "players", "me", "boards", "topChanged", "rankChanged",
                  "createBoard", "resetBoard", "banPlayer", "submitScores", "history", "rankHistory",
                  "snapshots", "snapshot"):
        assert f"{field}(" in text or f"{field} {{" in text, field
