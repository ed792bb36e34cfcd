"""The package's shape: stages import only from the stages left of them, and no module imports itself back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "redes"
# The flow of DESIGN.md, left to right. The foundation (errors, arrays, devices, checkpoint) and the tables that
# config derives its choices from are stage 0: they import no stage.
STAGES = ["config", "data", "nn", "manual", "engines", "loop", "runs", "study", "estimators", "bench", "cli"]
FOUNDATION = {"redes.errors", "redes.arrays", "redes.devices", "redes.checkpoint", "redes.lazy", "redes.progress",
              "redes.version"}
TABLES = {"redes.nn.activations", "redes.nn.losses", "redes.nn.optimizers", "redes.data.sources"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(module: str) -> set[str]:
    """Every redes module `module` imports, at its top or inside a function, resolved to the module itself."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("redes"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("redes.")}
    return found - {module}


def _stage(module: str) -> int:
    if module in FOUNDATION or module in TABLES or module == "redes":
        return 0
    top = module.split(".")[1]
    return STAGES.index(top) + 1 if top in STAGES else 0


def test_every_module_belongs_to_a_stage_or_the_foundation():
    loose = [m for m in MODULES if m.count(".") == 1 and m.split(".")[1] not in STAGES
             and m not in FOUNDATION | {"redes.__main__"}]
    assert not loose, f"modules outside the stages of DESIGN.md: {loose}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m not in ("redes", "redes.__main__")))
def test_a_module_imports_only_from_its_stage_or_those_left_of_it(module):
    late = sorted(other for other in _imports(module) if _stage(other) > _stage(module))
    assert not late, f"{module} (stage {_stage(module)}) imports later stages: {late}"


def test_tables_and_foundation_import_no_stage():
    for module in sorted(FOUNDATION | TABLES):
        if module in MODULES:
            assert _imports(module) <= FOUNDATION, f"{module} imports {_imports(module) - FOUNDATION}"


def test_no_import_cycle():
    graph = {module: _imports(module) & set(MODULES) for module in MODULES}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        for other in sorted(graph[module]):
            visit(other, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
