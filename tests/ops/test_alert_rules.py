"""The alert rules: promtool accepts them and their unit tests pass; every alert has a firing and a
quiet case and a runbook entry; the chart ships the same file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.ops.conftest import REPO

RULES = REPO / "ops/prometheus/podium-rules.yml"
RULE_TESTS = REPO / "ops/prometheus/podium-rules.test.yml"
CHART_RULES = REPO / "helm/podium/files/prometheus/podium-rules.yml"
RUNBOOK = REPO / "docs/runbook.md"
# Labels that tell one input series (a region, a node, a board) from another.
SCOPE_LABELS = ("region", "source_region", "node", "board", "consumer")


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: run .ci/setup-ops.sh (installs Debian's prometheus package)"
    return found


def alerts() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"]}


def run(*args: str, cwd: Path) -> str:
    done = subprocess.run([promtool(), *args], check=False, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_checks_the_rules() -> None:
    out = run("check", "rules", RULES.name, cwd=RULES.parent)
    assert f"SUCCESS: {len(alerts())} rules found" in out


def test_promtool_unit_tests_pass() -> None:
    assert "SUCCESS" in run("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)


def _scopes(series: str) -> set[tuple[str, str]]:
    return {(k, v) for k, v in re.findall(r'(\w+)="([^"]*)"', series) if k in SCOPE_LABELS}


def test_every_alert_has_a_case_that_fires_and_one_that_does_not() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        inputs = set().union(*(_scopes(s["series"]) for s in case["input_series"]))
        for check in case["alert_rule_test"]:
            expected = check.get("exp_alerts") or []
            if expected:
                fires.add(check["alertname"])
            fired = set().union(*({(k, v) for k, v in e["exp_labels"].items() if k in SCOPE_LABELS} for e in expected))
            # quiet: nothing expected at all, or input series of a scope that is expected not to fire
            if not expected or {(k, v) for k, v in inputs if k in {k2 for k2, _ in fired}} - fired:
                quiet.add(check["alertname"])
    assert set(alerts()) - fires == set(), "alerts without a firing test"
    assert set(alerts()) - quiet == set(), "alerts without a test where they must stay quiet"


def test_every_alert_has_a_runbook_entry_and_annotations() -> None:
    runbook = RUNBOOK.read_text()
    headings = {h.strip() for h in re.findall(r"^### (.+)$", runbook, re.MULTILINE)}
    for name, rule in alerts().items():
        assert name in headings, f"docs/runbook.md has no '### {name}'"
        assert rule["annotations"]["runbook_url"] == f"docs/runbook.md#{name.lower()}"
        assert rule["labels"]["severity"] in ("page", "ticket")
        section = runbook.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        for part in ("**Means**", "**Check**", "**Do**"):
            assert part in section, f"runbook entry {name} lacks {part}"


def test_the_chart_ships_the_same_rules() -> None:
    assert CHART_RULES.read_text() == RULES.read_text(), f"cp {RULES.relative_to(REPO)} {CHART_RULES.relative_to(REPO)}"


def test_every_slo_names_alerts_that_exist() -> None:
    rows = [line for line in (REPO / "docs/slo.md").read_text().splitlines() if line.startswith("| ") and "`Podium" in line]
    assert len(rows) == 5, "ingest availability, ack latency, read latency, push lag, convergence"
    for row in rows:
        named = set(re.findall(r"`(Podium[A-Za-z]+)`", row))
        assert named and named <= set(alerts()), f"{row[:40]}…: unknown alerts {named - set(alerts())}"
