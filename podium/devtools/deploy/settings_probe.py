"""Parses environments as `podium.config.Settings` in a process of its own.

Settings reads only os.environ, so each environment is installed there in turn; doing that in the
checking process would briefly change the environment of every thread in it.

Line protocol, so one process serves a whole deploy-check: each stdin line is a JSON list of
{name: value} environments; the answer is one stdout line, a JSON list of {"error": str} or
{"redis_url": bool, "kafka_bootstrap": bool} per environment."""

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
    for line in sys.stdin:
        sys.stdout.write(json.dumps([probe(env) for env in json.loads(line)]) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
