"""The Dockerfile, read statically (no Docker daemon here): multi-stage, a non-root numeric user in
the final stage that matches the chart's securityContext, and the `podium` entry point."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium.devtools.deploy.results import CheckFailed


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse(text: str) -> list[Stage]:
    """Stages and their instructions; continuation lines joined, comments dropped."""
    stages: list[Stage] = []
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    for line in logical.splitlines():
        if not line.strip():
            continue
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return stages


def _last(stage: Stage, keyword: str) -> str | None:
    values = [rest for kw, rest in stage.instructions if kw == keyword]
    return values[-1] if values else None


def check(dockerfile: Path, chart_values: dict[str, Any]) -> str:
    if not dockerfile.is_file():
        raise CheckFailed(f"{dockerfile.name} not found")
    stages = parse(dockerfile.read_text())
    problems: list[str] = []
    if len(stages) < 2:
        problems.append("not multi-stage: build tools would ship in the runtime image")
    final = stages[-1] if stages else Stage("", None)
    if stages and not any(kw == "COPY" and "--from=" in rest for kw, rest in final.instructions):
        problems.append("the final stage copies nothing from a build stage")
    user = _last(final, "USER")
    uid = (user or "").split(":")[0]
    if not uid.isdigit() or uid == "0":
        problems.append(f"the final stage must run as a numeric non-root USER (found {user!r}): "
                        "Kubernetes' runAsNonRoot can only verify a numeric uid")
    else:
        expected = chart_values.get("podSecurityContext", {}).get("runAsUser")
        if expected is not None and int(uid) != int(expected):
            problems.append(f"USER {uid} differs from the chart's podSecurityContext.runAsUser {expected}")
    entrypoint = _last(final, "ENTRYPOINT")
    try:
        parsed = json.loads(entrypoint) if entrypoint else None
    except json.JSONDecodeError:
        parsed = None
    if parsed != ["podium"]:
        problems.append(f'ENTRYPOINT must be the exec form ["podium"] (the chart passes its arguments), found {entrypoint!r}')
    if problems:
        raise CheckFailed("\n".join(problems))
    return f"{len(stages)} stages, USER {user}, ENTRYPOINT {entrypoint}"
