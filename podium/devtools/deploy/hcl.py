"""Static checks of Terraform modules with python-hcl2, for what `terraform validate` cannot reach
offline: modules whose providers (helm, kubernetes) cannot be installed without a registry."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from lark.exceptions import LarkError

from podium.devtools.deploy.results import CheckFailed

BUILTIN_PROVIDERS = {"terraform"}  # terraform_data needs no provider installation
MODULE_META_ARGS = {"source", "version", "providers", "count", "for_each", "depends_on"}
_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
_REFERENCE = re.compile(r"^\$\{var\.([A-Za-z0-9_-]+)\}$")


@dataclass
class Module:
    """A directory's Terraform configuration, every .tf file's blocks merged."""

    path: Path
    blocks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, path: Path) -> Module:
        module = cls(path)
        for tf in sorted(path.glob("*.tf")):
            try:
                parsed = hcl2.loads(tf.read_text(), serialization_options=_OPTIONS)
            except (LarkError, ValueError) as exc:
                raise CheckFailed(f"{tf.name} does not parse as HCL: {exc}") from exc
            for kind, entries in parsed.items():
                module.blocks.setdefault(kind, []).extend(entries if isinstance(entries, list) else [entries])
        return module

    def named(self, kind: str) -> dict[str, dict[str, Any]]:
        """Blocks with one label (variable, output, module), by label."""
        return {name: body for entry in self.blocks.get(kind, []) for name, body in entry.items()}

    def resource_types(self) -> set[str]:
        return {rtype for kind in ("resource", "data") for entry in self.blocks.get(kind, []) for rtype in entry}

    def required_providers(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for terraform in self.blocks.get("terraform", []):
            for block in terraform.get("required_providers", []) or []:
                out.update(block)
        return out

    def local_modules(self) -> dict[str, Path]:
        return {name: (self.path / body["source"]).resolve() for name, body in self.named("module").items()
                if str(body.get("source", "")).startswith(("./", "../"))}

    def providers(self) -> set[str]:
        """Provider local names this module (not its children) needs installed."""
        used = {rtype.split("_", 1)[0] for rtype in self.resource_types()}
        used |= {name for entry in self.blocks.get("provider", []) for name in entry}
        return (used | set(self.required_providers())) - BUILTIN_PROVIDERS


def needs_providers(module: Module, seen: frozenset[Path] = frozenset()) -> set[str]:
    """Providers of the module and every local module it calls: empty means it runs offline."""
    needed = set(module.providers())
    for child in module.local_modules().values():
        if child not in seen and child.is_dir():
            needed |= needs_providers(Module.parse(child), seen | {module.path.resolve()})
    return needed


def check_module(module: Module) -> str:
    """Declarations are complete (types, descriptions, version constraints) and every local module
    call passes exactly the variables the called module declares, all the required ones included."""
    problems: list[str] = []
    if not any("required_version" in t for t in module.blocks.get("terraform", [])):
        problems.append("terraform block has no required_version")
    for name, spec in module.required_providers().items():
        if not isinstance(spec, dict) or "source" not in spec or "version" not in spec:
            problems.append(f"required_providers.{name} needs a source and a version constraint")
    for name in module.providers() - set(module.required_providers()):
        problems.append(f"provider {name!r} is used but not in required_providers")
    for name, body in module.named("variable").items():
        for attribute in ("type", "description"):
            if attribute not in body:
                problems.append(f"variable {name!r} has no {attribute}")
    for name, body in module.named("output").items():
        if "description" not in body:
            problems.append(f"output {name!r} has no description")
    for call, target in module.local_modules().items():
        problems += _check_call(module, call, target)
    if problems:
        raise CheckFailed("\n".join(problems))
    counts = {k: len(module.named(k)) for k in ("variable", "output", "module")}
    return (f"{counts['variable']} variables typed and described, {counts['output']} outputs described, "
            f"{counts['module']} module call(s) wired")


def _check_call(module: Module, call: str, target: Path) -> list[str]:
    if not target.is_dir() or not any(target.glob("*.tf")):
        return [f"module {call!r}: source {module.named('module')[call]['source']!r} is not a module directory"]
    child = Module.parse(target)
    declared = child.named("variable")
    given = set(module.named("module")[call]) - MODULE_META_ARGS
    problems = [f"module {call!r}: {arg!r} is not a variable of {target.name}" for arg in sorted(given - set(declared))]
    problems += [f"module {call!r}: required variable {name!r} of {target.name} is not given"
                 for name, body in sorted(declared.items()) if "default" not in body and name not in given]
    providers = module.named("module")[call].get("providers") or {}
    for provider in providers if isinstance(providers, dict) else {}:
        if provider not in child.required_providers():
            problems.append(f"module {call!r}: passes provider {provider!r}, which {target.name} does not require")
    return problems


def call_inputs(module: Module, call: str) -> dict[str, Any]:
    """The arguments of a module call, with `var.x` references replaced by x's default: what the
    call receives when the caller keeps its defaults. Other expressions cannot be evaluated here."""
    variables = module.named("variable")
    inputs: dict[str, Any] = {}
    for arg, value in module.named("module")[call].items():
        if arg in MODULE_META_ARGS:
            continue
        ref = _REFERENCE.match(value) if isinstance(value, str) else None
        if ref:
            if "default" not in variables.get(ref.group(1), {}):
                raise CheckFailed(f"module {call!r}: {arg} = var.{ref.group(1)}, which has no default to evaluate offline")
            inputs[arg] = variables[ref.group(1)]["default"]
        elif isinstance(value, str) and "${" in value:
            raise CheckFailed(f"module {call!r}: {arg} = {value} cannot be evaluated offline")
        else:
            inputs[arg] = value
    return inputs


def secret_key_attributes(module: Module) -> set[str]:
    """The `var.release.secret_keys.<attribute>` keys a region/global module writes into its Secret."""
    text = repr(module.blocks.get("locals", []))
    return set(re.findall(r"var\.release\.secret_keys\.([A-Za-z0-9_]+)", text))
