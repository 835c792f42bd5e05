"""checkov, when installed, over the rendered manifests, terraform/ and the Dockerfile.

checkov is not in the `deploy` extra: it pins old versions of packaging, boto3 and networkx and
brings ~55 packages, so it lives in a virtualenv of its own (.ci/run makes one) and runs as a
child process. It works offline with --skip-download. Found as $PODIUM_CHECKOV or `checkov` on
PATH; without it the check is skipped, or fails when required."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from podium.devtools.deploy.results import CheckFailed, CheckSkipped

CHECKOV_TIMEOUT_S = 300
FRAMEWORKS = ("kubernetes", "terraform", "dockerfile")


def executable() -> str | None:
    configured = os.environ.get("PODIUM_CHECKOV")
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("checkov")


def _reports(stdout: str) -> list[dict[str, Any]]:
    """checkov -o json prints one report, or a list of them (one per framework)."""
    try:
        parsed = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise CheckFailed(f"checkov printed no JSON report: {stdout[-2000:]}") from exc
    return parsed if isinstance(parsed, list) else [parsed]


def scan(manifests: dict[str, str], terraform_dir: Path, dockerfile: Path, config: Path, required: bool) -> str:
    """One checkov run over a staging directory: manifests/<name>.yaml, terraform/, Dockerfile."""
    binary = executable()
    if binary is None:
        message = "checkov not installed (python -m venv .venv-checkov && .venv-checkov/bin/pip install checkov; PODIUM_CHECKOV=.venv-checkov/bin/checkov)"
        if required:
            raise CheckFailed(message)
        raise CheckSkipped(message)
    with tempfile.TemporaryDirectory(prefix="podium-checkov-") as tmp:
        stage = Path(tmp)
        (stage / "manifests").mkdir()
        for name, text in manifests.items():
            (stage / "manifests" / f"{name}.yaml").write_text(text)
        shutil.copytree(terraform_dir, stage / "terraform", ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
        shutil.copy(dockerfile, stage / "Dockerfile")
        args = [binary, "--directory", str(stage), "--framework", *FRAMEWORKS, "--skip-download",
                "--quiet", "--compact", "--output", "json"]
        if config.is_file():
            args += ["--config-file", str(config)]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=CHECKOV_TIMEOUT_S, check=False)
    if proc.returncode not in (0, 1):  # 1: findings; anything else: checkov itself failed
        raise CheckFailed(f"checkov exited with {proc.returncode}:\n{proc.stderr.strip()[-2000:]}")
    failures: list[str] = []
    counts = {"passed": 0, "skipped": 0}
    for report in _reports(proc.stdout):
        summary = report.get("summary", {})
        counts["passed"] += int(summary.get("passed", 0))
        counts["skipped"] += int(summary.get("skipped", 0))
        for f in report.get("results", {}).get("failed_checks", []):
            resource = ".".join(str(f["resource"]).split(".")[:3])  # Kind.namespace.name, without the labels
            failures.append(f"{f['check_id']} {f['check_name']}: {resource} in {f['file_path'].lstrip('/')}")
        if int(summary.get("parsing_errors", 0)):
            failures.append(f"{report.get('check_type')}: {summary['parsing_errors']} file(s) checkov could not parse")
    if failures:
        raise CheckFailed(f"{len(failures)} finding(s):\n" + "\n".join(sorted(set(failures))))
    return f"{counts['passed']} checks passed, {counts['skipped']} skipped with a reason ({', '.join(FRAMEWORKS)})"
