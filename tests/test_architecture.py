"""The package's structure: stages in pipeline order, imports only downward, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lever_gym"
STAGES = ("envs", "mdp", "train", "data", "library", "reuse", "eval", "experiments")
"""Pipeline order: a stage may import the stages before it, never those after."""
SHARED = ("errors", "checks", "components", "objective", "policy", "version")
"""Top-level modules every stage may use; they import no stage."""
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return [m for m in out if m == "lever_gym" or m.startswith("lever_gym.")]


def rank(module: str) -> int:
    """Pipeline position of a ``lever_gym`` module (-1: shared, len(STAGES): cli)."""
    parts = module.split(".")
    if len(parts) < 2:
        return -2
    if parts[1] in STAGES:
        return STAGES.index(parts[1])
    return -1 if parts[1] in SHARED else len(STAGES)


def name_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(p for p in rel.parts if p != "__init__")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: name_of(p))
def test_imports_only_downward_and_never_the_root(path):
    me = name_of(path)
    if me == "lever_gym":
        return
    for module in imported_modules(path):
        assert module != "lever_gym", f"{me} imports the package root"
        if rank(me) == -1:
            assert rank(module) == -1, f"shared module {me} imports the stage {module}"
        else:
            assert rank(module) <= rank(me), f"{me} imports {module}, a later stage"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: name_of(p))
def test_modules_stay_small(path):
    assert len(path.read_text().splitlines()) <= 400, f"{name_of(path)} is over 400 lines"


def test_every_stage_is_a_package_with_a_docstring():
    for stage in STAGES:
        init = PACKAGE / stage / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), stage
