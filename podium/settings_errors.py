"""Bad settings reported as one line per setting, naming the environment variable and the form it
expects, instead of a pydantic traceback (used by the `podium` command)."""

from __future__ import annotations

import contextlib
import json
import os
import typing
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from podium.config import Settings

ENV_PREFIX = "PODIUM_"
# How a pydantic error type reads to an operator.
_EXPECTED = {
    "int_parsing": "an integer", "int_type": "an integer", "float_parsing": "a number",
    "bool_parsing": "true or false", "json_invalid": "valid JSON", "dict_type": "a JSON object",
    "list_type": "a JSON array", "string_type": "a string", "literal_error": "one of the allowed values",
}


def env_name(loc: tuple[Any, ...]) -> str:
    """The environment variable that sets the field at `loc` (nested with `__`)."""
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if parts[:1] == ["redis_url"]:
        return "REDIS_URL"
    if parts[:1] == ["global_"]:
        parts[0] = "global"
    return ENV_PREFIX + "__".join(p.upper() for p in parts)


def _json_form(annotation: Any) -> str | None:
    """'a JSON object' / 'a JSON array' for fields pydantic-settings reads as JSON, else None."""
    origin = typing.get_origin(annotation) or annotation
    if origin is dict:
        return "a JSON object"
    if origin is list:
        return "a JSON array"
    return None


def _json_problems(model: type[BaseModel], environ: Mapping[str, str],
                   prefix: tuple[str, ...] = ()) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, field in model.model_fields.items():
        loc = (*prefix, name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.update(_json_problems(annotation, environ, loc))
            continue
        form = _json_form(annotation)
        var = env_name(loc)
        if form is None or var not in environ:
            continue
        try:
            json.loads(environ[var])
        except json.JSONDecodeError as exc:
            out[var] = f"{var}: not valid JSON ({exc.msg}); expected {form}"
    return out


def describe(exc: ValidationError | SettingsError, environ: Mapping[str, str]) -> list[str]:
    """One line per bad setting."""
    if isinstance(exc, SettingsError):
        # pydantic-settings stops at the first value that is not JSON: find every one of them, then
        # validate without them for the other problems.
        bad = _json_problems(Settings, environ)
        if not bad:
            return [f"settings: {exc}"]
        with _without(bad):
            try:
                Settings()
            except ValidationError as rest:
                return [*bad.values(), *describe(rest, environ)]
            except SettingsError:
                pass
        return list(bad.values())
    lines = []
    for err in exc.errors():
        var = env_name(err["loc"])
        expected = _EXPECTED.get(err["type"], err["msg"][0].lower() + err["msg"][1:])
        given = environ.get(var)
        shown = f" (got {given!r})" if given is not None and len(given) <= 60 else ""
        lines.append(f"{var}: expected {expected}{shown}")
    return lines


@contextlib.contextmanager
def _without(names: Iterable[str]) -> Iterator[None]:
    """The process environment without `names` for a moment (the command is exiting anyway)."""
    saved = {n: os.environ.pop(n) for n in list(names) if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
