"""Parses environments as `podium.config.Settings` in a process of its own.

Settings reads only os.environ, so each environment is installed there in turn; doing that in the
checking process would briefly change the environment of every thread in it.

stdin: a JSON list of {name: value} environments. stdout: a JSON list, per environment, of
{"error": str} or {"redis_url": bool, "kafka_bootstrap": bool}."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from pydantic import ValidationError

from podium.config import Settings


def probe(env: dict[str, str]) -> dict[str, Any]:
    os.environ.clear()
    os.environ.update(env)
    try:
        settings = Settings()
    except (ValidationError, ValueError) as exc:
        return {"error": str(exc)}
    return {"redis_url": bool(settings.redis_url), "kafka_bootstrap": bool(settings.kafka.bootstrap)}


def main() -> None:
    envs = json.load(sys.stdin)
    json.dump([probe(env) for env in envs], sys.stdout)


if __name__ == "__main__":
    main()
