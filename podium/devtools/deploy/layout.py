"""Where the deployable artefacts live in a checkout (helm/, terraform/, Dockerfile)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CHART = Path("helm/podium")


@dataclass(frozen=True, slots=True)
class Layout:
    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> Layout:
        """The checkout holding helm/podium: `start` or a parent of it; without `start`, the working
        directory or a parent, else the source tree this package was installed from (editable)."""
        here = (start or Path.cwd()).resolve()
        fallback = [] if start else [Path(__file__).resolve().parents[3]]
        for candidate in (here, *here.parents, *fallback):
            if (candidate / CHART / "Chart.yaml").is_file():
                return cls(candidate)
        raise FileNotFoundError(f"no {CHART}/Chart.yaml in {here} or its parents: pass --root")

    @property
    def chart(self) -> Path:
        return self.root / CHART

    @property
    def values_files(self) -> list[Path]:
        return sorted((self.chart / "examples").glob("values-*.yaml"))

    @property
    def terraform(self) -> Path:
        return self.root / "terraform"

    @property
    def terraform_dirs(self) -> list[Path]:
        """Every Terraform module and example: a directory directly holding .tf files."""
        return sorted({p.parent for p in self.terraform.rglob("*.tf") if ".terraform" not in p.parts})

    @property
    def dockerfile(self) -> Path:
        return self.root / "Dockerfile"

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)
