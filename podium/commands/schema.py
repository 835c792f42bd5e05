"""`podium schema`: writes the GraphQL SDL to graphql/schema.graphql (CI fails on drift)."""

from __future__ import annotations

import argparse
from pathlib import Path

from podium.region.api.schema import build_schema

DEFAULT_PATH = Path("graphql/schema.graphql")
GLOBAL_NAME = "global.graphql"


def sdl() -> str:
    text: str = build_schema().as_str()
    return text + "\n"


def global_sdl() -> str:
    from podium.global_.schema import build_global_schema

    text: str = build_global_schema().as_str()
    return text + "\n"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("schema", help="export the GraphQL SDL")
    p.add_argument("--output", "-o", type=Path, default=DEFAULT_PATH)
    p.add_argument("--check", action="store_true", help="fail if the file differs from the schema")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Writes the region's SDL to --output and the global tier's beside it (global.graphql)."""
    files = {args.output: sdl(), args.output.with_name(GLOBAL_NAME): global_sdl()}
    if args.check:
        stale = [p for p, text in files.items() if (p.read_text() if p.exists() else "") != text]
        for p in stale:
            print(f"{p} is out of date: run `podium schema`")
        return 1 if stale else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return 0
