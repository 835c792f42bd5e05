"""The chart's monitoring objects: the ServiceMonitor labels every series with tier (and region),
the PrometheusRule carries each role's alert groups, and the dashboards ship as sidecar ConfigMaps,
all copies of the files under ops/ (rules, dashboards) that tests/ops checks against real metrics."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from podium.devtools.deploy import chart

from .conftest import ROOT

CHART = ROOT / "helm/podium"
MONITORING = {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True, "labels": {"release": "prom"}},
              "dashboards": {"enabled": True}}


@pytest.fixture(scope="module")
def helm_chart() -> Iterator[Any]:
    loaded = chart.load_chart(CHART)
    yield loaded
    loaded.close()


def rendered(helm_chart: Any, role: str, metrics: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    values = copy.deepcopy(chart.load_values(CHART / "examples" / f"values-{role}.yaml"))
    values["metrics"] = copy.deepcopy(metrics)
    return {(m.kind, m.name): m.doc for m in chart.render(helm_chart, values)}


def ops_groups(prefixes: tuple[str, ...]) -> list[dict[str, Any]]:
    doc = yaml.safe_load((ROOT / "ops/prometheus/podium-rules.yml").read_text())
    return [g for g in doc["groups"] if g["name"].startswith(prefixes)]


@pytest.mark.parametrize(("role", "prefixes", "dashboards"), [
    ("region", ("podium-region", "podium-stream"), ["podium-region", "podium-stream-worker"]),
    ("global", ("podium-global",), ["podium-global"]),
])
def test_each_role_gets_its_rules_and_dashboards(helm_chart: Any, role: str, prefixes: tuple[str, ...],
                                                 dashboards: list[str]) -> None:
    docs = rendered(helm_chart, role, MONITORING)
    rule = docs[("PrometheusRule", "podium")]
    assert rule["metadata"]["labels"]["release"] == "prom"
    assert rule["spec"]["groups"] == ops_groups(prefixes)
    maps = {name: doc for (kind, name), doc in docs.items() if kind == "ConfigMap" and name.startswith("podium-dashboard-")}
    assert sorted(maps) == sorted(f"podium-dashboard-{d.removeprefix('podium-')}" for d in dashboards)
    for name in dashboards:
        doc = maps[f"podium-dashboard-{name.removeprefix('podium-')}"]
        assert doc["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert json.loads(doc["data"][f"{name}.json"]) == json.loads((ROOT / f"ops/grafana/{name}.json").read_text())
    relabel = {r["targetLabel"]: r["replacement"] for r in docs[("ServiceMonitor", "podium")]["spec"]["endpoints"][0]["relabelings"]}
    assert relabel["tier"] == role
    assert ("region" in relabel) is (role == "region")


def test_monitoring_objects_are_off_by_default(helm_chart: Any) -> None:
    off = {"serviceMonitor": {"enabled": False}, "prometheusRule": {"enabled": False}, "dashboards": {"enabled": False}}
    kinds = {kind for kind, _ in rendered(helm_chart, "region", off)}
    names = {name for _, name in rendered(helm_chart, "region", off)}
    assert not {"PrometheusRule", "ServiceMonitor"} & kinds
    assert not [n for n in names if n.startswith("podium-dashboard-")]


def test_chart_copies_of_the_dashboards_match_ops() -> None:
    for path in sorted((ROOT / "ops/grafana").glob("*.json")):
        copy_ = CHART / "files/dashboards" / path.name
        assert copy_.read_text() == path.read_text(), f"cp {path.relative_to(ROOT)} {copy_.relative_to(ROOT)}"


def test_pod_monitor_scrapes_the_workers_on_an_open_metrics_port(helm_chart: Any) -> None:
    metrics = {**MONITORING, "podMonitor": {"enabled": True, "port": 9200}}
    docs = rendered(helm_chart, "region", metrics)
    monitor = docs[("PodMonitor", "podium-worker")]
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
    relabel = {r["targetLabel"]: r["replacement"] for r in monitor["spec"]["podMetricsEndpoints"][0]["relabelings"]}
    assert relabel == {"tier": "region", "region": "us-east"}
    worker = docs[("Deployment", "podium-worker")]["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"][-4:] == ["--metrics-port", "9200", "--metrics-host", "0.0.0.0"]
    assert worker["ports"] == [{"name": "metrics", "containerPort": 9200, "protocol": "TCP"}]
    policy = docs[("NetworkPolicy", "podium-worker")]["spec"]
    assert policy["ingress"][0]["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    closed = rendered(helm_chart, "region", MONITORING)
    assert ("PodMonitor", "podium-worker") not in closed
    assert "ingress" not in closed[("NetworkPolicy", "podium-worker")]["spec"], "no metrics port: no ingress at all"
