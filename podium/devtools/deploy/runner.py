"""Every deploy check in order, each reported as soon as it finishes.

Order: Dockerfile; per example values file, the chart (lint, render, Kubernetes schemas, wiring,
settings); Terraform (fmt, static checks of every module, init/validate/test of the modules
that run offline); the Helm values the Terraform modules pass, through the same chart checks;
checkov over all of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from podium.devtools.deploy import chart, dockerfile, hcl, manifests, terraform
from podium.devtools.deploy import checkov as checkov_scan
from podium.devtools.deploy.layout import Layout
from podium.devtools.deploy.results import CheckFailed, CheckResult, CheckSkipped, run_check

KUBE_VERSION = "1.33.0"
GROUPS = ("docker", "helm", "terraform", "checkov")
TOPOLOGY = Path("modules/topology")
EXAMPLE = Path("examples/three-regions")


@dataclass
class Options:
    kube_version: str = KUBE_VERSION
    require_checkov: bool = False
    fix_fmt: bool = False
    only: frozenset[str] = frozenset(GROUPS)  # check groups to run (GROUPS)


@dataclass
class Run:
    """The results so far, and every rendered release (for checkov)."""

    layout: Layout
    options: Options
    report: Callable[[CheckResult], None]
    probe: manifests.SettingsProbe
    results: list[CheckResult] = field(default_factory=list)
    rendered: dict[str, str] = field(default_factory=dict)

    def check(self, name: str, fn: Callable[[], str]) -> CheckResult:
        result = run_check(name, fn)
        self.results.append(result)
        self.report(result)
        return result

    def skip(self, name: str, reason: str) -> None:
        def skipped() -> str:
            raise CheckSkipped(reason)

        self.check(name, skipped)


def run_all(root: Path, options: Options | None = None,
            report: Callable[[CheckResult], None] = lambda _: None) -> list[CheckResult]:
    with manifests.SettingsProbe() as probe:
        run = Run(Layout(root), options or Options(), report, probe)
        _run_all(run)
    return run.results


def _run_all(run: Run) -> None:
    only = run.options.only
    if "docker" in only:
        run.check("dockerfile", lambda: dockerfile.check(run.layout.dockerfile,
                                                         chart.load_values(run.layout.chart / "values.yaml")))
    loaded: list[Any] = []
    if {"helm", "terraform"} & only:
        if run.check("helm chart", lambda: _load_chart(run.layout, loaded)).failed:
            return
    try:
        if "helm" in only:
            if not run.layout.values_files:
                run.check("helm examples", _fail(f"no values-*.yaml in {run.layout.rel(run.layout.chart / 'examples')}"))
            for values_file in run.layout.values_files:
                check_values_file(run, loaded[0], values_file)
        if "terraform" in only:
            check_terraform(run)
            check_terraform_releases(run, loaded[0])
    finally:
        for helm_chart in loaded:
            helm_chart.close()
    if "checkov" in only:
        run.check("checkov", lambda: checkov_scan.scan(run.rendered, run.layout.terraform, run.layout.dockerfile,
                                                       run.layout.root / ".checkov.yaml", run.options.require_checkov))


def _load_chart(layout: Layout, loaded: list[Any]) -> str:
    loaded.append(chart.load_chart(layout.chart))
    return f"{loaded[0].name} {loaded[0].version} loaded from {layout.rel(layout.chart)}"


def _fail(message: str) -> Callable[[], str]:
    def failing() -> str:
        raise CheckFailed(message)

    return failing


def check_values_file(run: Run, helm_chart: Any, values_file: Path) -> None:
    label = values_file.name
    try:
        values = chart.load_values(values_file)
    except CheckFailed as exc:
        run.check(f"helm values {label}", _fail(str(exc)))
        return
    run.check(f"helm lint {label}", lambda: chart.lint(run.layout.chart, values, run.options.kube_version))
    check_release(run, helm_chart, label, values, values_file.stem)


def check_release(run: Run, helm_chart: Any, label: str, values: dict[str, Any], name: str,
                  release_name: str = chart.RELEASE_NAME) -> None:
    """Render one release and check what it renders; later stages skip when rendering failed."""
    rendered: list[chart.Manifest] = []

    def render() -> str:
        # A namespace per release: checkov relates objects (NetworkPolicy -> pods) by namespace,
        # and every release is scanned in one run.
        rendered.extend(chart.render(helm_chart, values, release_name, namespace=name))
        kinds = sorted({m.kind for m in rendered})
        return f"{len(rendered)} objects ({', '.join(kinds)})"

    if run.check(f"helm render {label}", render).failed:
        for stage in ("kubernetes-validate", "chart wiring", "chart settings"):
            run.skip(f"{stage} {label}", "not rendered")
        return
    run.rendered[name] = chart.to_yaml(rendered)
    run.check(f"kubernetes-validate {label}", lambda: manifests.validate_schemas(rendered, run.options.kube_version))
    run.check(f"chart wiring {label}", lambda: manifests.check_wiring(rendered))
    run.check(f"chart settings {label}", lambda: manifests.check_settings(rendered, run.probe))


def check_terraform(run: Run) -> None:
    layout = run.layout
    run.check("terraform fmt", lambda: terraform.fmt_check(layout.terraform, fix=run.options.fix_fmt))
    for directory in layout.terraform_dirs:
        rel = str(directory.relative_to(layout.terraform))
        parsed: list[hcl.Module] = []

        def static(directory: Path = directory, parsed: list[hcl.Module] = parsed) -> str:
            parsed.append(hcl.Module.parse(directory))
            return hcl.check_module(parsed[0])

        if run.check(f"terraform static {rel}", static).failed:
            continue
        providers = hcl.needs_providers(parsed[0])
        if providers:
            run.skip(f"terraform validate {rel}",
                     f"needs the {', '.join(sorted(providers))} provider(s), which cannot be installed offline; "
                     "checked statically above and through the topology's Helm values below")
            continue
        run.check(f"terraform validate {rel}", partial(terraform.init_validate, layout.terraform, directory))
        if any(directory.glob("*.tftest.hcl")) or any((directory / "tests").glob("*.tftest.hcl")):
            run.check(f"terraform test {rel}", partial(terraform.test, layout.terraform, directory))


def check_terraform_releases(run: Run, helm_chart: Any) -> None:
    """The Helm values the example's region and global modules pass, computed by Terraform from the
    example's defaults, through the same chart checks as the example values files."""
    layout = run.layout
    topology, example = layout.terraform / TOPOLOGY, layout.terraform / EXAMPLE
    if not (topology.is_dir() and example.is_dir()):
        run.check("terraform releases", _fail(f"missing terraform/{TOPOLOGY} or terraform/{EXAMPLE}"))
        return
    computed: dict[str, Any] = {}

    def evaluate() -> str:
        inputs = hcl.call_inputs(hcl.Module.parse(example), "topology")
        computed.update(terraform.outputs(layout.terraform, topology, inputs))
        return f"topology evaluated for {EXAMPLE.name}: releases {', '.join(computed['release_names'])}"

    if run.check(f"terraform releases {EXAMPLE}", evaluate).failed:
        return
    releases = [*computed["regions"].values(), computed["global"]]
    run.check("terraform release wiring", lambda: check_release_wiring(layout, computed))
    for release in releases:
        name = release["release_name"]
        check_release(run, helm_chart, f"{name} (terraform)", release["helm_values"], f"terraform-{name}", name)


def check_release_wiring(layout: Layout, computed: dict[str, Any]) -> str:
    """Topology, modules and app agree: every Secret key the values reference is one the module
    writes, and the topic and consumer-group names are the ones the app derives itself."""
    from podium.config import KafkaSettings, Settings
    from podium.stream_topics import StreamTopics

    problems: list[str] = []
    modules = {"region": layout.terraform / "modules/region", "global": layout.terraform / "modules/global"}
    written = {role: hcl.secret_key_attributes(hcl.Module.parse(path)) for role, path in modules.items()}
    for release in [*computed["regions"].values(), computed["global"]]:
        values, name = release["helm_values"], release["release_name"]
        keys_written = {release["secret_keys"][a] for a in written[values["role"]] if a in release["secret_keys"]}
        refs = [*values.get("secrets", {}).values(), values.get("redis", {}).get("existingSecret") or {}]
        for ref in refs:
            if ref.get("name") and (ref["name"] != release["secret_name"] or ref["key"] not in keys_written):
                problems.append(f"{name}: values reference Secret {ref['name']}/{ref['key']}, which modules/{values['role']} does not write")
    for region, release in computed["regions"].items():
        kafka = release["helm_values"]["kafka"]
        settings = Settings(region=region, kafka=KafkaSettings(topic_prefix=kafka["topicPrefix"]))
        app_topics = StreamTopics.of(settings)
        if list(release["topics"].values()) and sorted(release["topics"].values()) != sorted(app_topics.all()):
            problems.append(f"{region}: topology topics {sorted(release['topics'].values())} differ from the app's {sorted(app_topics.all())}")
        if release["consumer_group"] != f"{kafka['topicPrefix']}-{region}-worker":
            problems.append(f"{region}: consumer group {release['consumer_group']!r} is not the app's default")
    if problems:
        raise CheckFailed("\n".join(problems))
    return "Secret keys, topic names and consumer groups agree between topology, modules and app"
