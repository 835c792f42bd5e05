"""`podium schema`: writes the GraphQL SDL to graphql/schema.graphql (CI fails on drift)."""

from __future__ import annotations

import argparse
from pathlib import Path

from podium.region.api.schema import build_schema

DEFAULT_PATH = Path("graphql/schema.graphql")


def sdl() -> str:
    return build_schema().as_str() + "\n"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("schema", help="export the GraphQL SDL")
    p.add_argument("--output", "-o", type=Path, default=DEFAULT_PATH)
    p.add_argument("--check", action="store_true", help="fail if the file differs from the schema")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = sdl()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run `podium schema`")
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0
