"""`Long`: integers up to ±2^53, the exact score range (GraphQL `Int` is only 32 bits).
Registered through `StrawberryConfig.scalar_map` (see `schema_config()`)."""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.schema.config import StrawberryConfig

from podium.model import SCORE_ABS_MAX

Long = NewType("Long", int)


def _parse_long(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("Long must be an integer")
    number = int(value)
    if abs(number) > SCORE_ABS_MAX:
        raise ValueError("Long must be within ±2^53")
    return number


def schema_config() -> StrawberryConfig:
    return StrawberryConfig(
        scalar_map={
            Long: strawberry.scalar(
                name="Long",
                description="An integer exact up to ±2^53 (scores, Unix milliseconds).",
                serialize=int,
                parse_value=_parse_long,
            )
        }
    )
