"""The import rule of docs/architecture.md, checked on the source (ast, nothing is imported).

- A model family package (`hfmodels/<family>/`) imports only the standard library, torch,
  transformers, safetensors, tokenizers, numpy, huggingface_hub, its own modules, and the torch-only
  building blocks of `hfmodels.from_scratch`; `from_scratch` itself imports only torch and the
  standard library. That keeps a family folder self-contained (transformers copies it as remote code).
- `hfmodels.data` and `hfmodels.metrics` do not import `hfmodels.training` or `hfmodels.evaluation`.
- Nothing under `hfmodels/` imports `recipes`, `benchmarks` or `tests`.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hfmodels"
NOT_FAMILIES = {
    "data",
    "training",
    "evaluation",
    "reporting",
    "metrics",
    "checkpoints",
    "demo",
    "from_scratch",
}
MODEL_THIRD_PARTY = {"torch", "transformers", "safetensors", "tokenizers", "numpy", "huggingface_hub"}
BUILDING_BLOCKS = "hfmodels.from_scratch"
OUTSIDE_THE_LIBRARY = {"recipes", "benchmarks", "tests"}


@dataclass(frozen=True)
class Import:
    """One imported name: the file (relative to the directory holding `hfmodels/`), its line, the
    statement as written and the absolute dotted name it resolves to (`from ..data import reader`
    in `hfmodels/fam/x.py` is `hfmodels.data.reader`)."""

    path: Path
    line: int
    statement: str
    module: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.statement}"


def module_name(path: Path, root: Path) -> str:
    """Dotted name of the module in `path`, `root` being the directory that holds the top package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every name `path` imports (at any depth: in functions too), relative imports resolved;
    `importlib.import_module("...")` with a literal name counts as an import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package, where = module_name(path, root), path.relative_to(root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(where, node.lineno, f"import {a.name}", a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")
                module = ".".join(base[: len(base) - node.level + 1] + ([module] if module else []))
            source = "." * node.level + (node.module or "")
            found += [
                Import(where, node.lineno, f"from {source} import {a.name}", f"{module}.{a.name}")
                for a in node.names
            ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and not node.args[0].value.startswith(".")
        ):
            name = node.args[0].value
            found.append(Import(where, node.lineno, f"import_module({name!r})", name))
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _is_stdlib(module: str) -> bool:
    return module.partition(".")[0] in sys.stdlib_module_names


def family_violations(family_dir: Path, root: Path, allowed_packages: tuple[str, ...]) -> list[Import]:
    """Imports of the model package in `family_dir` that break the rule: anything but the standard
    library, the model libraries, its own modules and the `allowed_packages`."""
    own = module_name(family_dir / "__init__.py", root)
    return [
        imp
        for path in sorted(family_dir.rglob("*.py"))
        for imp in imports_of(path, root)
        if not (
            _is_stdlib(imp.module)
            or imp.module.partition(".")[0] in MODEL_THIRD_PARTY
            or _within(imp.module, own)
            or any(_within(imp.module, allowed) for allowed in allowed_packages)
        )
    ]


def families(package: Path = PACKAGE) -> list[str]:
    """The model family packages: every subpackage of hfmodels that is not a layer above the models."""
    return sorted(
        p.name for p in package.iterdir() if (p / "__init__.py").is_file() and p.name not in NOT_FAMILIES
    )


def _report(bad: list[Import], rule: str) -> str:
    return f"{rule}; offending imports:\n" + "\n".join(f"  {imp}" for imp in bad)


@pytest.mark.parametrize("family", families())
def test_model_package_imports_only_model_libraries_and_its_own_files(family):
    bad = family_violations(PACKAGE / family, PACKAGE.parent, (BUILDING_BLOCKS,))
    if bad:
        pytest.fail(
            _report(
                bad,
                f"hfmodels/{family}/ is a model package: it may import only the standard library, "
                f"{', '.join(sorted(MODEL_THIRD_PARTY))}, its own modules and {BUILDING_BLOCKS}",
            )
        )


def test_building_blocks_import_only_torch():
    if not (PACKAGE / "from_scratch" / "__init__.py").is_file():
        pytest.fail(
            "hfmodels/from_scratch/ is missing: the import rule names it as the building-block package"
        )
    bad = [
        imp
        for path in sorted((PACKAGE / "from_scratch").rglob("*.py"))
        for imp in imports_of(path, PACKAGE.parent)
        if not (
            _is_stdlib(imp.module) or _within(imp.module, "torch") or _within(imp.module, BUILDING_BLOCKS)
        )
    ]
    if bad:
        pytest.fail(_report(bad, "hfmodels/from_scratch/ may import only torch and the standard library"))


@pytest.mark.parametrize("lower", ["data", "metrics"])
def test_data_and_metrics_do_not_import_training_or_evaluation(lower):
    bad = [
        imp
        for path in sorted((PACKAGE / lower).rglob("*.py"))
        for imp in imports_of(path, PACKAGE.parent)
        if _within(imp.module, "hfmodels.training") or _within(imp.module, "hfmodels.evaluation")
    ]
    if bad:
        pytest.fail(_report(bad, f"hfmodels/{lower}/ sits below training and evaluation"))


def test_the_library_does_not_import_recipes_benchmarks_or_tests():
    bad = [
        imp
        for path in sorted(PACKAGE.rglob("*.py"))
        for imp in imports_of(path, PACKAGE.parent)
        if imp.module.partition(".")[0] in OUTSIDE_THE_LIBRARY
    ]
    if bad:
        pytest.fail(_report(bad, "hfmodels/ must not import recipes, benchmarks or tests"))


def test_the_checker_finds_each_kind_of_offending_import(tmp_path):
    """The rule's checker on a made-up package: it names the file and line of every bad import."""
    pkg = tmp_path / "hfmodels"
    (pkg / "fam" / "sub").mkdir(parents=True)
    for init in (pkg, pkg / "fam", pkg / "fam" / "sub", pkg / "data", pkg / "from_scratch"):
        init.mkdir(exist_ok=True)
        (init / "__init__.py").write_text("")
    (pkg / "fam" / "modeling_fam.py").write_text(
        "import math\nimport torch\nfrom transformers import PreTrainedModel\n"
        "from .configuration_fam import FamConfig\nfrom .sub import helper\n"
        "from ..from_scratch import blocks\nfrom hfmodels.from_scratch.blocks import Attention\n"
        "from hfmodels import from_scratch\n"
        "from ..data import reader\n"  # line 9: bad
        "import pandas\n"  # line 10: bad
        "def f():\n    from hfmodels.training.precision import bf16\n"  # line 12: bad
        "    import importlib\n    importlib.import_module('recipes.char_gpt.run')\n"  # line 14: bad
    )
    (pkg / "fam" / "sub" / "deep.py").write_text("from ... import reporting\n")  # line 1: bad
    (pkg / "fam" / "__init__.py").write_text("import hfmodels\n")  # line 1: bad
    bad = family_violations(pkg / "fam", tmp_path, (BUILDING_BLOCKS,))
    found = {(imp.path.name, imp.line, imp.module) for imp in bad}
    assert found == {
        ("__init__.py", 1, "hfmodels"),
        ("modeling_fam.py", 9, "hfmodels.data.reader"),
        ("modeling_fam.py", 10, "pandas"),
        ("modeling_fam.py", 12, "hfmodels.training.precision.bf16"),
        ("modeling_fam.py", 14, "recipes.char_gpt.run"),
        ("deep.py", 1, "hfmodels.reporting"),
    }, found
    assert "hfmodels/fam/modeling_fam.py:9: from ..data import reader" in _report(bad, "rule")
    assert families(pkg) == ["fam"]
