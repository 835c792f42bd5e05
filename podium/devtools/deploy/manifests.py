"""Checks of a rendered release: Kubernetes schemas (kubernetes-validate), the wiring between its
objects (selectors, named ports, references), and that the environment it gives Podium's
containers is configuration `podium.config.Settings` accepts."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Self
from urllib.parse import urlsplit

import kubernetes_validate
from pydantic import BaseModel

from podium.devtools.deploy.chart import Manifest
from podium.devtools.deploy.results import CheckFailed
from podium.invariant import invariant

# API groups whose objects are custom resources: kubernetes-validate ships no schema for them.
CUSTOM_RESOURCE_GROUPS = ("monitoring.coreos.com/",)
SETTINGS_PROBE_TIMEOUT_S = 60
UNPREFIXED_ENV = {"REDIS_URL"}  # accepted without PODIUM_ (podium/config.py)
# Placeholders for values that come from Secrets, shaped as the setting expects them.
SECRET_PLACEHOLDERS = {
    "PODIUM_GAME_SERVER_KEYS": '{"placeholder-key": "placeholder-secret"}',
    "PODIUM_ADMIN_KEYS": '["placeholder-admin-key"]',
    "REDIS_URL": "redis://placeholder:6379/0",
}


def validate_schemas(manifests: list[Manifest], kube_version: str) -> str:
    """Every object against Kubernetes' OpenAPI schemas, strict (unknown fields are errors)."""
    errors: list[str] = []
    uncovered: list[str] = []
    for m in manifests:
        try:
            kubernetes_validate.validate(m.doc, kube_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError as exc:
            if str(m.doc["apiVersion"]).startswith(CUSTOM_RESOURCE_GROUPS):
                uncovered.append(m.ref)
            else:
                errors.append(f"{m.template}: {m.ref}: {exc.message}")
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.absolute_path) or "(top level)"
            errors.append(f"{m.template}: {m.ref} at {where}: {exc.message}")
    if errors:
        raise CheckFailed("\n".join(errors))
    detail = f"{len(manifests) - len(uncovered)} objects valid for Kubernetes {kube_version} (strict)"
    if uncovered:
        detail += f"; custom resources without a bundled schema: {', '.join(uncovered)} (checked by wiring)"
    return detail


def _by_kind(manifests: list[Manifest], kind: str) -> list[dict[str, Any]]:
    return [m.doc for m in manifests if m.kind == kind]


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    return dict(deployment["spec"]["template"]["metadata"].get("labels", {}))


def _containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod_spec.get("containers", []))


def _port_names(deployment: dict[str, Any]) -> set[str]:
    return {p["name"] for c in _containers(deployment["spec"]["template"]["spec"]) for p in c.get("ports", []) if "name" in p}


def check_wiring(manifests: list[Manifest]) -> str:
    """What `kubectl apply` accepts but leaves broken: selectors that select nothing, named ports
    that do not exist, references to objects the release does not create."""
    problems: list[str] = []
    deployments = _by_kind(manifests, "Deployment")
    services = _by_kind(manifests, "Service")
    configmaps = {d["metadata"]["name"] for d in _by_kind(manifests, "ConfigMap")}
    service_accounts = {d["metadata"]["name"] for d in _by_kind(manifests, "ServiceAccount")}
    pods = [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in deployments]
    pods += [(p["metadata"]["name"], p["spec"]) for p in _by_kind(manifests, "Pod")]

    for d in deployments:
        name = d["metadata"]["name"]
        if not _matches(d["spec"]["selector"].get("matchLabels", {}), _pod_labels(d)):
            problems.append(f"Deployment/{name}: selector does not match its own pod labels")
        ports = _port_names(d)
        for c in _containers(d["spec"]["template"]["spec"]):
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if isinstance(port, str) and port not in ports:
                    problems.append(f"Deployment/{name}: {probe} uses port {port!r}, not a container port")
    for pod_name, spec in pods:
        sa = spec.get("serviceAccountName")
        if sa and sa != "default" and service_accounts and sa not in service_accounts:
            problems.append(f"{pod_name}: serviceAccountName {sa!r} is not created by the release")
        for c in _containers(spec):
            for source in c.get("envFrom", []):
                ref = source.get("configMapRef", {}).get("name")
                if ref and ref not in configmaps:
                    problems.append(f"{pod_name}: envFrom ConfigMap {ref!r} is not created by the release")

    for s in services:
        selected = [d for d in deployments if _matches(s["spec"].get("selector", {}), _pod_labels(d))]
        if not selected:
            problems.append(f"Service/{s['metadata']['name']}: selector matches no Deployment's pods")
        for port in s["spec"].get("ports", []):
            target = port.get("targetPort")
            if isinstance(target, str) and any(target not in _port_names(d) for d in selected):
                problems.append(f"Service/{s['metadata']['name']}: targetPort {target!r} is not a port of the selected pods")

    for hpa in _by_kind(manifests, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]["name"]
        match = [d for d in deployments if d["metadata"]["name"] == target]
        if not match:
            problems.append(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}: scales {target!r}, which the release does not create")
        elif "replicas" in match[0]["spec"]:
            problems.append(f"Deployment/{target} sets replicas while an HPA scales it: every upgrade would reset the scale")

    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for obj in _by_kind(manifests, kind):
            selector = (obj["spec"].get("selector") or obj["spec"].get("podSelector") or {}).get("matchLabels", {})
            if not any(_matches(selector, _pod_labels(d)) for d in deployments):
                problems.append(f"{kind}/{obj['metadata']['name']}: selector matches no Deployment's pods")

    for sm in _by_kind(manifests, "ServiceMonitor"):
        selector = sm["spec"].get("selector", {}).get("matchLabels", {})
        selected = [s for s in services if _matches(selector, s["metadata"].get("labels", {}))]
        if not selected:
            problems.append(f"ServiceMonitor/{sm['metadata']['name']}: selector matches no Service")
        for endpoint in sm["spec"].get("endpoints", []):
            if any(endpoint.get("port") not in {p.get("name") for p in s["spec"]["ports"]} for s in selected):
                problems.append(f"ServiceMonitor/{sm['metadata']['name']}: endpoint port {endpoint.get('port')!r} is not a Service port")

    problems += _check_test_hook(manifests, services)
    if problems:
        raise CheckFailed("\n".join(problems))
    return f"{len(deployments)} Deployment(s), {len(services)} Service(s): selectors, ports and references consistent"


def _check_test_hook(manifests: list[Manifest], services: list[dict[str, Any]]) -> list[str]:
    """The `helm test` pod must post to a Service port of this release, at /graphql."""
    hooks = [d for d in _by_kind(manifests, "Pod") if d["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    if not hooks:
        return ["no `helm test` hook Pod (annotation helm.sh/hook: test)"]
    problems = []
    ports = {(s["metadata"]["name"], p["port"]) for s in services for p in s["spec"]["ports"]}
    for hook in hooks:
        env = {e["name"]: e.get("value", "") for c in _containers(hook["spec"]) for e in c.get("env", [])}
        url = urlsplit(env.get("PODIUM_TEST_URL", ""))
        if (url.hostname, url.port or 80) not in ports or url.path != "/graphql":
            problems.append(f"Pod/{hook['metadata']['name']}: PODIUM_TEST_URL {url.geturl()!r} is not <service>:<port>/graphql of this release")
    return problems


def podium_containers(manifests: list[Manifest]) -> list[tuple[str, dict[str, Any]]]:
    """(Deployment/name, container) for every container running the `podium` entry point."""
    return [(f"Deployment/{d['metadata']['name']}", c) for d in _by_kind(manifests, "Deployment")
            for c in _containers(d["spec"]["template"]["spec"]) if "command" not in c]


def container_env(manifests: list[Manifest], container: dict[str, Any]) -> dict[str, str]:
    """The container's environment: its ConfigMaps, then env entries (Secrets as placeholders)."""
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in _by_kind(manifests, "ConfigMap")}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update({k: str(v) for k, v in configmaps.get(source.get("configMapRef", {}).get("name"), {}).items()})
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            env[entry["name"]] = SECRET_PLACEHOLDERS.get(entry["name"], "placeholder-secret-value")
    return env


def _env_names(model: type[BaseModel]) -> dict[str, Any]:
    """Setting name (lower case, as an env var segment) -> its annotation, aliases included."""
    names: dict[str, Any] = {}
    for field_name, field in model.model_fields.items():
        names[field_name] = field.annotation
        alias = field.validation_alias
        for choice in getattr(alias, "choices", []):
            if isinstance(choice, str):
                names[choice.lower().removeprefix("podium_")] = field.annotation
    return names


def unknown_setting(env_name: str, settings_cls: type[BaseModel]) -> bool:
    """True when a PODIUM_* variable names no setting (pydantic-settings would silently ignore it)."""
    if env_name in UNPREFIXED_ENV:
        return False
    parts = env_name.lower().removeprefix("podium_").split("__")
    model: Any = settings_cls
    for part in parts:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            # Deeper segments address dict keys or list items (JSON-valued settings): accepted.
            return getattr(model, "__origin__", None) is not dict
        names = _env_names(model)
        if part not in names:
            return True
        model = names[part]
    return False


class SettingsProbe:
    """A child process parsing environments as Settings (see settings_probe), kept for a whole run:
    starting Python and importing pydantic costs more than all the parsing."""

    def __init__(self) -> None:
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_") and k not in UNPREFIXED_ENV}
        # stderr to a file, not a pipe: nobody reads it until the child dies, and a full pipe would block it.
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "podium.devtools.deploy.settings_probe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, text=True, env=child_env,
        )

    def parse(self, envs: list[dict[str, str]]) -> list[dict[str, Any]]:
        invariant(self._proc.stdin is not None and self._proc.stdout is not None, "the probe's pipes are open")
        assert self._proc.stdin is not None and self._proc.stdout is not None  # narrows the types for mypy
        try:
            self._proc.stdin.write(json.dumps(envs) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            self._proc.wait(timeout=SETTINGS_PROBE_TIMEOUT_S)
            self._stderr.seek(0)
            raise CheckFailed(f"the settings probe died:\n{self._stderr.read().strip()[-2000:]}")
        results: list[dict[str, Any]] = json.loads(line)
        return results

    def close(self) -> None:
        if self._proc.stdin and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=SETTINGS_PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_settings(manifests: list[Manifest], probe: SettingsProbe | None = None) -> str:
    """Each Podium container's environment names only real settings, parses as Settings, has a
    Redis to talk to, and its arguments are a valid `podium` command line."""
    from podium.cli import build_parser
    from podium.config import Settings

    problems: list[str] = []
    envs: list[dict[str, str]] = []
    containers = podium_containers(manifests)
    if not containers:
        raise CheckFailed("no container runs the podium entry point")
    for owner, container in containers:
        where = f"{owner} container {container['name']}"
        env = container_env(manifests, container)
        for name in sorted(env):
            if (name.startswith("PODIUM_") or name in UNPREFIXED_ENV) and unknown_setting(name, Settings):
                problems.append(f"{where}: {name} is not a Podium setting (podium/config.py): it would be ignored")
        envs.append({k: v for k, v in env.items() if k.startswith("PODIUM_") or k in UNPREFIXED_ENV})
    if probe is None:
        with SettingsProbe() as own:
            parsed_envs = own.parse(envs)
    else:
        parsed_envs = probe.parse(envs)
    for (owner, container), parsed in zip(containers, parsed_envs, strict=True):
        where = f"{owner} container {container['name']}"
        if "error" in parsed:
            problems.append(f"{where}: the environment is not valid configuration: {parsed['error']}")
            continue
        if not parsed["redis_url"]:
            problems.append(f"{where}: no REDIS_URL (redis.url or redis.existingSecret)")
        args = [str(a) for a in container.get("args", [])]
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                build_parser().parse_args(args)
        except SystemExit:
            problems.append(f"{where}: `podium {' '.join(args)}` is not a valid command line: {stderr.getvalue().strip()}")
        if args[:1] == ["worker"] and not parsed["kafka_bootstrap"]:
            problems.append(f"{where}: `podium worker` without PODIUM_KAFKA__BOOTSTRAP exits at start")
    if problems:
        raise CheckFailed("\n".join(problems))
    return f"{len(containers)} container(s): every PODIUM_* variable is a setting and parses"
