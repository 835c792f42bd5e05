"""Checks of rendered releases: each catches the fault it exists for, with a message naming it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from podium.config import Settings
from podium.devtools.deploy import chart, manifests
from podium.devtools.deploy.chart import Manifest
from podium.devtools.deploy.results import CheckFailed

from .conftest import ROOT

CHART = ROOT / "helm/podium"


@pytest.fixture(scope="module")
def region() -> Iterator[list[Manifest]]:
    loaded = chart.load_chart(CHART)
    yield chart.render(loaded, chart.load_values(CHART / "examples/values-production.yaml"))
    loaded.close()


@pytest.fixture(scope="module")
def probe() -> Iterator[manifests.SettingsProbe]:
    with manifests.SettingsProbe() as p:
        yield p


def edited(rendered: list[Manifest], kind: str, name: str, edit: Any) -> list[Manifest]:
    out = [Manifest(m.template, copy.deepcopy(m.doc)) for m in rendered]
    target = next(m for m in out if m.kind == kind and m.name == name)
    edit(target.doc)
    return out


def test_the_rendered_release_passes(region: list[Manifest], probe: manifests.SettingsProbe) -> None:
    assert "ServiceMonitor/podium" in manifests.validate_schemas(region, "1.33.0")
    manifests.check_wiring(region)
    assert manifests.check_settings(region, probe).startswith("3 container(s)")   # API, Faust worker, history writer


def test_kubernetes_schema_violation_is_reported_with_its_path(region: list[Manifest]) -> None:
    broken = edited(region, "Deployment", "podium-api",
                    lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort="8080"))
    with pytest.raises(CheckFailed, match=r"Deployment/podium-api at spec.template.spec.containers.0.ports.0.containerPort: '8080' is not of type 'integer'"):
        manifests.validate_schemas(broken, "1.33.0")


def test_unknown_field_fails_strict_validation(region: list[Manifest]) -> None:
    broken = edited(region, "Service", "podium", lambda d: d["spec"].update(portz=[]))
    with pytest.raises(CheckFailed, match=r"Service/podium at spec: Additional properties are not allowed \('portz'"):
        manifests.validate_schemas(broken, "1.33.0")


@pytest.mark.parametrize(("kind", "name", "edit", "message"), [
    ("Service", "podium", lambda d: d["spec"]["ports"][0].update(targetPort="web"),
     "Service/podium: targetPort 'web' is not a port of the selected pods"),
    ("Service", "podium", lambda d: d["spec"]["selector"].update({"app.kubernetes.io/component": "apii"}),
     "Service/podium: selector matches no Deployment's pods"),
    ("Deployment", "podium-api", lambda d: d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"].update(port="admin"),
     "readinessProbe uses port 'admin', not a container port"),
    ("Deployment", "podium-api", lambda d: d["spec"].update(replicas=3),
     "Deployment/podium-api sets replicas while an HPA scales it"),
    ("ServiceMonitor", "podium", lambda d: d["spec"]["endpoints"][0].update(port="metrics"),
     "ServiceMonitor/podium: endpoint port 'metrics' is not a Service port"),
    ("Pod", "podium-test-graphql", lambda d: d["spec"]["containers"][0]["env"][0].update(value="http://podium:8080/graphql"),
     "PODIUM_TEST_URL 'http://podium:8080/graphql' is not <service>:<port>/graphql"),
    ("Deployment", "podium-worker", lambda d: d["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"].update(name="other"),
     "envFrom ConfigMap 'other' is not created by the release"),
])
def test_wiring_faults_are_caught(region: list[Manifest], kind: str, name: str, edit: Any, message: str) -> None:
    with pytest.raises(CheckFailed) as failure:
        manifests.check_wiring(edited(region, kind, name, edit))
    assert message in str(failure.value)


@pytest.mark.parametrize(("data", "message"), [
    ({"PODIUM_KAFKA_BOOTSTRAP": "kafka:9092"}, "PODIUM_KAFKA_BOOTSTRAP is not a Podium setting"),
    ({"PODIUM_INGEST__BATCH_ENTRIES": "10"}, "PODIUM_INGEST__BATCH_ENTRIES is not a Podium setting"),
    ({"PODIUM_INGEST__BATCH_ENTRIES_MAX": "lots"}, "ingest.batch_entries_max"),
    ({"PODIUM_REDIS_CLUSTER": "maybe"}, "redis_cluster"),
])
def test_environment_faults_are_caught(region: list[Manifest], probe: manifests.SettingsProbe,
                                       data: dict[str, str], message: str) -> None:
    broken = edited(region, "ConfigMap", "podium", lambda d: d["data"].update(data))
    with pytest.raises(CheckFailed) as failure:
        manifests.check_settings(broken, probe)
    assert message in str(failure.value)


def test_bad_command_line_and_worker_without_kafka_are_caught(region: list[Manifest], probe: manifests.SettingsProbe) -> None:
    broken = edited(region, "Deployment", "podium-api",
                    lambda d: d["spec"]["template"]["spec"]["containers"][0].update(args=["serve", "--role", "regional"]))
    broken = edited(broken, "ConfigMap", "podium", lambda d: d["data"].pop("PODIUM_KAFKA__BOOTSTRAP"))
    with pytest.raises(CheckFailed) as failure:
        manifests.check_settings(broken, probe)
    assert "`podium serve --role regional` is not a valid command line" in str(failure.value)
    assert "`podium worker` without PODIUM_KAFKA__BOOTSTRAP exits at start" in str(failure.value)


@pytest.mark.parametrize(("name", "unknown"), [
    ("PODIUM_GLOBAL__URL", False), ("PODIUM_GLOBAL__REGION_URLS", False), ("PODIUM_GAME_SERVER_KEYS__gs1", False),
    ("REDIS_URL", False), ("PODIUM_HISTORY__CASSANDRA_CONTACT_POINTS", False),
    ("PODIUM_GLOBAL__NOPE", True), ("PODIUM_ADMIN_KEYS__0", True), ("PODIUM_API", False), ("PODIUM_APII__X", True),
])
def test_setting_names_follow_the_settings_model(name: str, unknown: bool) -> None:
    assert manifests.unknown_setting(name, Settings) is unknown
