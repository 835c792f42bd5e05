"""`podium deploy-check`: the Helm chart, the Terraform modules and the Dockerfile, validated offline
(see podium/devtools/deploy/). Prints one PASS/FAIL/SKIP line per check; exits 1 on any failure."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "deploy-check", help="validate the Helm chart, Terraform modules and Dockerfile offline",
        description="Lint, render and validate the Helm chart for every example values file, run terraform "
                    "fmt/validate/test and static checks on every module, check the Helm values Terraform "
                    "passes, and run checkov when installed. No cluster, network or binaries needed.")
    p.add_argument("--root", type=Path, default=None, help="the checkout holding helm/ and terraform/ (default: found from here)")
    p.add_argument("--kube-version", default=None, help="Kubernetes version the manifests must be valid for (default 1.33.0)")
    p.add_argument("--require-checkov", action="store_true", help="fail, instead of skipping, when checkov is not installed")
    p.add_argument("--fix-fmt", action="store_true", help="rewrite Terraform files in canonical format before checking")
    p.add_argument("--only", action="append", choices=["docker", "helm", "terraform", "checkov"], default=None,
                   help="run only this group of checks (repeatable; default: all). checkov scans what the helm and terraform groups render")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        # The deploy tools are an extra (the Helm library alone is 75 MB): import them only here.
        from podium.devtools.deploy.layout import Layout
        from podium.devtools.deploy.runner import GROUPS, KUBE_VERSION, Options, run_all
    except ImportError as exc:
        print(f"podium deploy-check: {exc.name or exc} is missing: pip install -e '.[deploy]'", file=sys.stderr)
        return 2
    try:
        layout = Layout.find(args.root)
    except FileNotFoundError as exc:
        print(f"podium deploy-check: {exc}", file=sys.stderr)
        return 2
    options = Options(kube_version=args.kube_version or KUBE_VERSION, require_checkov=args.require_checkov,
                      fix_fmt=args.fix_fmt, only=frozenset(args.only or GROUPS))
    print(f"podium deploy-check in {layout.root}", flush=True)
    start = time.perf_counter()
    results = run_all(layout.root, options, report=lambda r: print(r.line(), flush=True))
    counts = {status: sum(1 for r in results if r.status.value == status) for status in ("PASS", "FAIL", "SKIP")}
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped "
          f"in {time.perf_counter() - start:.1f}s")
    return 1 if counts["FAIL"] else 0
