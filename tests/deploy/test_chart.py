"""The chart through Helm's SDK: schema and template rules fail with messages naming the value, and
the `helm test` hook's GraphQL query really works against a region and the global tier."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from podium.global_.server import create_global_app

from podium.config import Settings
from podium.devtools.deploy import chart
from podium.devtools.deploy.results import CheckFailed
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer

from .conftest import ROOT

CHART = ROOT / "helm/podium"


@pytest.fixture(scope="module")
def helm_chart() -> Iterator[Any]:
    loaded = chart.load_chart(CHART)
    yield loaded
    loaded.close()


def example(name: str) -> dict[str, Any]:
    return copy.deepcopy(chart.load_values(CHART / "examples" / f"values-{name}.yaml"))


def test_every_example_renders_for_its_role(helm_chart: Any) -> None:
    kinds = {name: {m.kind for m in chart.render(helm_chart, example(name))} for name in ("dev", "region", "global", "production")}
    assert "HorizontalPodAutoscaler" not in kinds["global"] and "ServiceMonitor" not in kinds["global"]
    assert {"HorizontalPodAutoscaler", "ServiceMonitor", "PodDisruptionBudget"} <= kinds["region"]
    assert "NetworkPolicy" in kinds["production"]
    workers = [m for m in chart.render(helm_chart, example("region")) if m.name == "podium-worker"]
    assert workers and workers[0].doc["spec"]["template"]["spec"]["containers"][0]["args"][0] == "worker"
    assert not [m for m in chart.render(helm_chart, example("dev")) if m.name == "podium-worker"], "no Kafka, no worker"


def test_the_history_writer_runs_on_its_own_only_with_cassandra(helm_chart: Any) -> None:
    """historyWriter.enabled: a `podium history-writer` Deployment, the other pods told to leave the
    backlog to it, a NetworkPolicy admitting nothing but the metrics port its PodMonitor scrapes;
    refused without Cassandra (SQLite is pod-local)."""
    docs = {(m.kind, m.name): m.doc for m in chart.render(helm_chart, example("production"))}
    writer = docs[("Deployment", "podium-history-writer")]["spec"]
    assert writer["replicas"] == 2
    container = writer["template"]["spec"]["containers"][0]
    assert container["args"] == ["history-writer", "--metrics-port", "9102", "--metrics-host", "0.0.0.0"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9102, "protocol": "TCP"}]
    assert docs[("ConfigMap", "podium")]["data"]["PODIUM_HISTORY__WRITER_PLACEMENT"] == "separate"
    monitor = docs[("PodMonitor", "podium-history-writer")]["spec"]
    assert monitor["selector"]["matchLabels"] == writer["selector"]["matchLabels"]
    assert monitor["podMetricsEndpoints"][0]["port"] == "metrics"
    policy = docs[("NetworkPolicy", "podium-history-writer")]["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "history-writer"
    assert [rule["ports"] for rule in policy["ingress"]] == [[{"port": "metrics", "protocol": "TCP"}]]
    quiet = example("production")
    quiet["metrics"]["podMonitor"]["enabled"] = False
    docs = {(m.kind, m.name): m.doc for m in chart.render(helm_chart, quiet)}
    assert docs[("Deployment", "podium-history-writer")]["spec"]["template"]["spec"]["containers"][0]["args"] == ["history-writer"]
    assert ("PodMonitor", "podium-history-writer") not in docs
    assert "ingress" not in docs[("NetworkPolicy", "podium-history-writer")]["spec"]
    region = {(m.kind, m.name): m.doc for m in chart.render(helm_chart, example("region"))}
    assert ("Deployment", "podium-history-writer") not in region
    assert "PODIUM_HISTORY__WRITER_PLACEMENT" not in region[("ConfigMap", "podium")]["data"]
    values = example("dev")
    values["historyWriter"] = {"enabled": True}
    with pytest.raises(CheckFailed, match="historyWriter.enabled needs cassandra.contactPoints"):
        chart.render(helm_chart, values)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda v: v.update(role="regional"), "at '/role': value must be one of 'region', 'global'"),
    (lambda v: v["redis"].pop("existingSecret"), "at '/redis': 'anyOf' failed"),
    (lambda v: v["kafka"].update(bootstrap="kafka-0"), "at '/kafka/bootstrap'"),
    (lambda v: v.update(replicas=3), "additional properties 'replicas' not allowed"),
    (lambda v: v.update(config={"podium_x": "1"}), "'podium_x' does not match pattern '^PODIUM_[A-Z0-9_]+$'"),
])
def test_schema_errors_name_the_value(helm_chart: Any, edit: Any, message: str) -> None:
    values = example("region")
    edit(values)
    with pytest.raises(CheckFailed, match="does not match values.schema.json") as failure:
        chart.render(helm_chart, values)
    assert message in str(failure.value)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda v: v["api"].update(autoscaling={"enabled": True}), "role=global runs exactly one replica"),
    (lambda v: v.update(kafka={"bootstrap": "kafka:9092"}), "kafka.bootstrap is a region setting"),
])
def test_global_tier_rules_fail_the_render(helm_chart: Any, edit: Any, message: str) -> None:
    values = example("global")
    edit(values)
    with pytest.raises(CheckFailed, match="helm template failed") as failure:
        chart.render(helm_chart, values)
    assert message in str(failure.value)


def test_more_workers_than_partitions_fails_the_render(helm_chart: Any) -> None:
    values = example("region")
    values["worker"]["replicas"] = 9
    with pytest.raises(CheckFailed, match=r"worker.replicas \(9\) is above kafka.scoresPartitions \(8\)"):
        chart.render(helm_chart, values)


def test_lint_reports_schema_errors(helm_chart: Any) -> None:
    values = example("dev")
    values["api"]["port"] = 80
    with pytest.raises(CheckFailed, match="at '/api/port': minimum: got 80, want 1,024"):
        chart.lint(CHART, values, "1.33.0")


def hook_script(helm_chart: Any, values: dict[str, Any]) -> tuple[str, str]:
    """The `helm test` pod's Python program and the query it posts."""
    hook = next(m.doc for m in chart.render(helm_chart, values) if m.kind == "Pod")
    container = hook["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert container["command"][:2] == ["python", "-c"]
    return container["command"][2], env["PODIUM_TEST_QUERY"]


def run_hook(script: str, url: str, query: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script], env={"PODIUM_TEST_URL": f"{url}/graphql", "PODIUM_TEST_QUERY": query},
                          capture_output=True, text=True, timeout=30, check=False)


def test_helm_test_hook_queries_a_live_region(helm_chart: Any, live_region: LiveServer) -> None:
    script, query = hook_script(helm_chart, example("dev"))
    assert query == "{ boards { id } }"
    ok = run_hook(script, live_region.url, query)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith('ok: {"boards": [')
    broken = run_hook(script, live_region.url, "{ noSuchField }")
    assert broken.returncode != 0 and "GraphQL query failed" in broken.stderr


def test_helm_test_hook_queries_a_live_global_tier(helm_chart: Any, redis_server: RedisServer, tmp_path: Path) -> None:
    script, query = hook_script(helm_chart, example("global"))
    settings = Settings(redis_url=f"{redis_server.url}/1", data_dir=tmp_path, port=0)
    with LiveServer(create_global_app, settings) as server:
        ok = run_hook(script, server.url, query)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith('ok: {"boards": [')
