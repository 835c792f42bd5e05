"""`podium deploy-check` end to end: the repository passes every check; a broken value type, a missing
required value and an unformatted Terraform file each make it exit 1 with a FAIL line that says what
and where (those runs are limited with --only to the group that must catch the fault)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from podium.cli import main
from podium.devtools.deploy import terraform

from .conftest import ROOT


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["deploy-check", *args])
    return code, capsys.readouterr().out


def fail_lines(out: str) -> str:
    """The FAIL lines with their indented detail lines."""
    return "\n".join(re.findall(r"^FAIL .*(?:\n {5}.*)*", out, flags=re.MULTILINE))


def test_repository_passes_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    # CI (.ci/run) sets PODIUM_CHECKOV to its checkov; then checkov must run and pass too.
    require_checkov = ["--require-checkov"] if os.environ.get("PODIUM_CHECKOV") else []
    code, out = run_cli(capsys, "--root", str(ROOT), *require_checkov)
    assert code == 0, fail_lines(out)
    names = re.findall(r"^(PASS|SKIP) (.+?)(?:: | \(\d+\.\d+s\)$)", out, flags=re.MULTILINE)
    passed = {name for status, name in names if status == "PASS"}
    for values_file in ("values-dev.yaml", "values-region.yaml", "values-global.yaml", "values-production.yaml"):
        for stage in ("helm lint", "helm render", "kubernetes-validate", "chart wiring", "chart settings"):
            assert f"{stage} {values_file}" in passed
    assert {"dockerfile", "terraform fmt", "terraform validate modules/topology", "terraform test modules/topology",
            "terraform static modules/region", "terraform static modules/global",
            "terraform static examples/three-regions", "terraform release wiring"} <= passed
    for release in ("podium-us-east", "podium-eu-west", "podium-ap-south", "podium-global"):
        assert f"helm render {release} (terraform)" in passed
    # Provider modules cannot be validated offline: that is said, not hidden.
    assert re.search(r"^SKIP terraform validate modules/region: needs the helm, kubernetes provider", out, re.MULTILINE)
    assert out.rstrip().splitlines()[-1].startswith(f"{len(passed)} passed, 0 failed")


def edit_values(checkout: Path, name: str, edit: object) -> None:
    path = checkout / "helm/podium/examples" / name
    values = yaml.safe_load(path.read_text())
    edit(values)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(values))


@pytest.mark.usefixtures("no_checkov")
def test_broken_value_type_fails(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_values(checkout, "values-region.yaml", lambda v: v["worker"].update(replicas="two"))
    code, out = run_cli(capsys, "--root", str(checkout), "--only", "helm")
    assert code == 1
    failed = fail_lines(out)
    assert "FAIL helm lint values-region.yaml" in failed
    assert "FAIL helm render values-region.yaml: does not match values.schema.json" in failed
    assert "at '/worker/replicas': got string, want integer" in failed
    assert "SKIP kubernetes-validate values-region.yaml: not rendered" in out
    assert "values-dev.yaml" not in failed, "only the broken file fails"


@pytest.mark.usefixtures("no_checkov")
def test_missing_required_value_fails(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_values(checkout, "values-dev.yaml", lambda v: v.pop("region"))
    code, out = run_cli(capsys, "--root", str(checkout), "--only", "helm")
    assert code == 1
    failed = fail_lines(out)
    assert "FAIL helm render values-dev.yaml: does not match values.schema.json" in failed
    assert "missing property 'region'" in failed


@pytest.mark.usefixtures("no_checkov")
def test_unformatted_terraform_file_fails(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = checkout / "terraform/modules/region/outputs.tf"
    outputs.write_text(outputs.read_text().replace('  value       = helm_release.this.status', 'value=helm_release.this.status'))
    code, out = run_cli(capsys, "--root", str(checkout), "--only", "terraform")
    assert code == 1
    failed = fail_lines(out)
    assert failed.startswith("FAIL terraform fmt: not in canonical format: modules/region/outputs.tf")
    assert "podium deploy-check --fix-fmt" in failed
    assert failed.count("FAIL ") == 1, "the file is still valid HCL: only fmt fails"

    assert terraform.fmt_check(checkout / "terraform", fix=True).endswith("in canonical format")
    assert 'value       = helm_release.this.status' in outputs.read_text()


def test_a_root_without_the_chart_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy-check", "--root", str(tmp_path)]) == 2
    assert f"no helm/podium/Chart.yaml in {tmp_path.resolve()}" in capsys.readouterr().err
