"""The `podium` command. Each sub-command is one module in `podium.commands` exposing
`register(subparsers)`; the module sets `func` on its parser. Adding a command touches no other file."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_settings import SettingsError

from podium import __version__, commands
from podium.errors import PodiumError
from podium.settings_errors import describe


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="podium", description="Real-time, multi-region leaderboards.")
    parser.add_argument("--version", action="version", version=f"podium {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValidationError, SettingsError) as exc:
        for line in describe(exc, os.environ):
            print(f"podium: bad setting {line}", file=sys.stderr)
        return 2
    except PodiumError as exc:
        print(f"podium: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
