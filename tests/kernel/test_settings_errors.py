"""podium.settings_errors: a bad setting is one line naming its environment variable and the form
it expects (not a pydantic traceback), every bad one reported, JSON ones included."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from podium.config import Settings
from podium.settings_errors import describe, env_name


def test_env_names_follow_the_nesting() -> None:
    assert env_name(("ingest", "batch_entries_max")) == "PODIUM_INGEST__BATCH_ENTRIES_MAX"
    assert env_name(("redis_url",)) == "REDIS_URL"
    assert env_name(("global_", "ship_batch_bytes_max")) == "PODIUM_GLOBAL__SHIP_BATCH_BYTES_MAX"
    assert env_name(("boards", 0, "id")) == "PODIUM_BOARDS__ID"


def _problems(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        Settings()
    except (ValidationError, SettingsError) as exc:
        return describe(exc, dict(os.environ))
    raise AssertionError("the settings were accepted")


def test_each_bad_value_is_one_line_naming_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _problems(monkeypatch, {"PODIUM_INGEST__BATCH_ENTRIES_MAX": "abc", "PODIUM_API__TICK_MS": "soon"})
    assert sorted(lines) == ["PODIUM_API__TICK_MS: expected an integer (got 'soon')",
                             "PODIUM_INGEST__BATCH_ENTRIES_MAX: expected an integer (got 'abc')"]


def test_json_settings_that_are_not_json_are_named_with_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _problems(monkeypatch, {"PODIUM_GAME_SERVER_KEYS": "notjson", "PODIUM_INGEST__BATCH_ENTRIES_MAX": "x"})
    assert any(line.startswith("PODIUM_GAME_SERVER_KEYS: not valid JSON") and line.endswith("expected a JSON object")
               for line in lines), lines
    assert "PODIUM_INGEST__BATCH_ENTRIES_MAX: expected an integer (got 'x')" in lines
    assert len(lines) == 2
