"""The Helm chart through Helm's own Go SDK (helm-python): lint, values.schema.json, render.

Helm errors are translated here into CheckFailed messages that name the values file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
import yaml

from podium.devtools.deploy.results import CheckFailed

RELEASE_NAME = "podium"
NAMESPACE = "podium"
LINT_SEVERITY_MIN = 2  # helm lint: 1 info, 2 warning, 3 error; warnings fail like `helm lint --strict`


@dataclass(frozen=True, slots=True)
class Manifest:
    template: str
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.doc.get("metadata", {}).get("name", ""))

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


def load_values(path: Path) -> dict[str, Any]:
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CheckFailed(f"{path.name} is not valid YAML: {exc}") from exc
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise CheckFailed(f"{path.name} must hold a mapping of values, not {type(values).__name__}")
    return values


def lint(chart_dir: Path, values: dict[str, Any], kube_version: str) -> str:
    """`helm lint --strict` with these values; Helm's lint also checks them against the schema."""
    try:
        report = helm_python.lint(chart_dir, values, strict=True, kube_version=f"v{kube_version}")
    except helm_python.HelmError as exc:
        raise CheckFailed(f"helm lint could not run: {exc}") from exc
    problems = [m for m in report["messages"] if m["severity"] >= LINT_SEVERITY_MIN]
    if problems:
        raise CheckFailed("\n".join(f"{m['path']}: {m['error'].strip()}" for m in problems))
    infos = len(report["messages"])
    return f"no warnings or errors ({infos} info message{'s' if infos != 1 else ''})"


def load_chart(chart_dir: Path) -> helm_python.Chart:
    try:
        return helm_python.Chart.load(chart_dir)
    except helm_python.HelmError as exc:
        raise CheckFailed(f"{chart_dir} is not a loadable chart: {exc}") from exc


def validate_values(chart: helm_python.Chart, values: dict[str, Any]) -> None:
    """Helm's own values.schema.json validation of the chart defaults merged with `values`."""
    try:
        chart.validate_schema(values)
    except helm_python.HelmValuesError as exc:
        raise CheckFailed(f"does not match values.schema.json:\n{str(exc).strip()}") from exc


def render(chart: helm_python.Chart, values: dict[str, Any], name: str = RELEASE_NAME,
           namespace: str = NAMESPACE) -> list[Manifest]:
    """The release's manifests as `helm template` renders them (schema-checked first)."""
    validate_values(chart, values)
    try:
        rendered = chart.render(values=values, name=name, namespace=namespace, is_install=True)
    except helm_python.HelmError as exc:
        raise CheckFailed(f"helm template failed:\n{str(exc).strip()}") from exc
    manifests: list[Manifest] = []
    for template, text in sorted(rendered.items()):
        if not template.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            raise CheckFailed(f"{template} renders invalid YAML: {exc}") from exc
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                raise CheckFailed(f"{template} renders something that is not a Kubernetes object")
            manifests.append(Manifest(template, doc))
    if not manifests:
        raise CheckFailed("the chart rendered no manifests")
    return manifests


def to_yaml(manifests: list[Manifest]) -> str:
    return "---\n".join(yaml.safe_dump(m.doc, sort_keys=False) for m in manifests)
