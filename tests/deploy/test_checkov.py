"""checkov is optional: without it the check says how to install it, and fails only when required."""

from __future__ import annotations

import pytest

from podium.devtools.deploy import checkov
from podium.devtools.deploy.results import CheckFailed, CheckSkipped

from .conftest import ROOT


@pytest.mark.usefixtures("no_checkov")
def test_missing_checkov_skips_unless_required() -> None:
    args = (dict[str, str](), ROOT / "terraform", ROOT / "Dockerfile", ROOT / ".checkov.yaml")
    with pytest.raises(CheckSkipped, match="checkov not installed"):
        checkov.scan(*args, required=False)
    with pytest.raises(CheckFailed, match="checkov not installed"):
        checkov.scan(*args, required=True)


def test_reports_accept_one_report_or_a_list() -> None:
    report = {"check_type": "dockerfile", "summary": {"passed": 1}}
    assert checkov._reports('{"check_type": "dockerfile", "summary": {"passed": 1}}') == [report]
    assert checkov._reports(f"[{'{'}\"check_type\": \"dockerfile\", \"summary\": {'{'}\"passed\": 1{'}'}{'}'}]") == [report]
    with pytest.raises(CheckFailed, match="printed no JSON report"):
        checkov._reports("Traceback ...")
