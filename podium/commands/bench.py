"""`podium bench`: Podium's figures next to baselines measured in the same run, as ratios."""

from __future__ import annotations

import argparse
import sys

from podium.devtools.bench import scenarios


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("bench", help="benchmark Podium against redis-benchmark and a peer library")
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                   help=f"any of {', '.join(scenarios.SCENARIOS)} (default: {' '.join(scenarios.DEFAULT_SCENARIOS)})")
    p.add_argument("--quick", action="store_true", help="small boards and short runs (under 3 minutes)")
    p.add_argument("--tiny", action="store_true", help="the harness test's configuration (seconds; no peer)")
    p.add_argument("--no-peer", action="store_true", help="skip the peer library (no venv is created)")
    p.add_argument("--out", default=None, help="results directory (default benchmarks/results/<timestamp>)")
    p.add_argument("--entries", type=int, default=None,
                   help="convergence: burst size over three regions (default 380,000; quick 30,000; tiny 3,000)")
    p.add_argument("--baseline-python", default=None,
                   help="convergence: interpreter of a previous checkout, measured the same way in the same run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from podium.devtools.bench import runner
    from podium.devtools.bench.report import markdown
    from podium.devtools.bench.scenarios import BenchConfig

    cfg = BenchConfig.tiny() if args.tiny else BenchConfig.quick() if args.quick else BenchConfig()
    if args.no_peer:
        cfg.peer = False
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    cfg.convergence_entries = args.entries or {"tiny": 3000, "quick": 30_000}.get(mode, cfg.convergence_entries)
    cfg.convergence_baseline_python = args.baseline_python
    names = args.scenarios or list(scenarios.DEFAULT_SCENARIOS)
    try:
        results, out = runner.run(names, cfg, mode=mode, command="podium bench " + " ".join(sys.argv[2:]),
                                  out_dir=Path(args.out) if args.out else None)
    except ValueError as exc:
        print(f"podium bench: {exc}", file=sys.stderr)
        return 2
    print(markdown(results))
    print(f"results written to {out}")
    return 0
