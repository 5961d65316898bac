"""The core package is layered by pipeline stage: imports go one way down, with no cycle.

Walks every module of ``HematomaExpansionLib`` with ``ast`` (nothing is imported), builds the
module-level import graph and checks:
- a module imports only its own stage or a lower one (``LAYERS``, lowest first);
- the import graph has no cycle, also inside one stage;
- imports inside functions are only for heavy optional third-party packages (``LAZY_ALLOWED``);
- only ``mrml`` imports ``slicer``/``vtk``; nothing imports Qt;
- no module imports a private (underscore) name from another module.
The checker itself is tested on a small synthetic graph, so a broken checker cannot pass.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "HematomaExpansion" / "HematomaExpansionLib"
PACKAGE = "HematomaExpansionLib"

# Lowest first. simulation/training/cli are development and entry layers: no run-time stage may
# import them (their index is above every run-time stage).
LAYERS = ("core", "io", "anatomy", "segmentation", "features", "expansion", "outputs", "pipeline", "mrml",
          "simulation", "training", "cli")
# heavy to import, kept out of CLI start-up and the Slicer module load
LAZY_ALLOWED = {"torch", "radiomics", "matplotlib", "sklearn", "dask", "distributed", "highdicom"}
SLICER_ONLY = {"slicer", "vtk"}
QT = {"qt", "ctk", "PythonQt"}
MAX_LINES = 450


def module_name(path: Path) -> str:
    rel = path.relative_to(LIB).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([PACKAGE, *parts])


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """Absolute names a ``from ... import ...`` refers to (module, or module.name when it is a module)."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [target] + [f"{target}.{a.name}" for a in node.names]


def scan(lib: Path = LIB) -> dict[str, dict]:
    """module -> {path, imports (internal, top level), lazy (function-level imports), external, private}."""
    modules: dict[str, dict] = {}
    for path in sorted(lib.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        name = module_name(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        info = {"path": path, "imports": set(), "lazy": [], "external": set(), "private": []}
        in_functions = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                        for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            in_function = id(node) in in_functions
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                targets = resolve(name, path.name == "__init__.py", node)
                if node.level or (node.module or "").startswith(PACKAGE):
                    info["private"] += [a.name for a in node.names if a.name.startswith("_") and a.name != "__version__"]
            internal = [t for t in targets if t == PACKAGE or t.startswith(PACKAGE + ".")]
            external = [t.split(".")[0] for t in targets if t not in internal]
            if in_function:
                info["lazy"].append((node.lineno, internal[0] if internal else external[0]))
            info["external"].update(external[:1] if isinstance(node, ast.ImportFrom) else external)
            info["imports"].update(internal)
        modules[name] = info
    for info in modules.values():  # keep only names that are modules (drop imported functions/classes)
        info["imports"] = {t for t in info["imports"] if t in modules} or set()
    return modules


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in LAYERS:
        return None  # the package's own __init__
    return LAYERS.index(parts[1])


def upward_imports(modules: dict[str, dict]) -> list[str]:
    bad = []
    for name, info in modules.items():
        mine = layer_of(name)
        for target in info["imports"]:
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                bad.append(f"{name} imports {target} ({LAYERS[mine]} -> higher stage {LAYERS[theirs]})")
            if mine is None and theirs is not None:
                bad.append(f"{name} (package root) imports {target}")
    return bad


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def import_graph(modules: dict[str, dict]) -> dict[str, set[str]]:
    # A package's __init__ is imported on the way to its submodules; edges to a parent package
    # are implicit and harmless, so only module -> module edges are kept.
    return {name: {t for t in info["imports"] if not name.startswith(t + ".")} for name, info in modules.items()}


@pytest.fixture(scope="module")
def modules():
    return scan()


def test_every_stage_is_a_documented_subpackage(modules):
    for stage in LAYERS:
        init = LIB / stage / "__init__.py"
        assert init.exists(), f"missing stage package {stage}/"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.splitlines()) == 1, f"{stage}/__init__.py needs a one-line docstring of its job"
    stray = [p.name for p in LIB.glob("*.py") if p.name != "__init__.py"]
    assert not stray, f"modules outside the stage packages: {stray}"


def test_no_upward_import(modules):
    assert upward_imports(modules) == []


def test_no_import_cycle(modules):
    cycle = find_cycle(import_graph(modules))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_function_level_imports_only_for_heavy_optional_packages(modules):
    bad = [f"{info['path'].relative_to(LIB)}:{line} imports {target} inside a function"
           for info in modules.values() for line, target in info["lazy"] if target.split(".")[0] not in LAZY_ALLOWED]
    assert bad == []


def test_only_mrml_imports_slicer_and_nothing_imports_qt(modules):
    for name, info in modules.items():
        assert not info["external"] & QT, f"{name} imports Qt"
        if info["external"] & SLICER_ONLY:
            assert name.split(".")[1] == "mrml", f"{name} imports {info['external'] & SLICER_ONLY}; only mrml/ may"


def test_no_private_names_imported_across_modules(modules):
    bad = {name: info["private"] for name, info in modules.items() if info["private"]}
    assert bad == {}


def test_no_core_file_over_the_size_limit():
    long = {str(p.relative_to(LIB)): n for p in LIB.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"files over {MAX_LINES} lines: {long}"


# --- the checker itself ------------------------------------------------------------------------
def test_checker_finds_a_cycle_and_an_upward_import(tmp_path):
    lib = tmp_path / PACKAGE
    for stage in ("core", "features", "expansion"):
        (lib / stage).mkdir(parents=True)
        (lib / stage / "__init__.py").write_text('"""x."""\n')
    (lib / "__init__.py").write_text("")
    (lib / "features" / "a.py").write_text("from . import b\n")
    (lib / "features" / "b.py").write_text("from .a import thing\n")
    (lib / "core" / "c.py").write_text("from ..expansion.d import predict\n")
    (lib / "expansion" / "d.py").write_text("def predict():\n    import json\n")
    global LIB
    saved, LIB = LIB, lib
    try:
        found = scan(lib)
    finally:
        LIB = saved
    cycle = find_cycle(import_graph(found))
    assert cycle and set(cycle) == {f"{PACKAGE}.features.a", f"{PACKAGE}.features.b"}
    assert upward_imports(found) == [f"{PACKAGE}.core.c imports {PACKAGE}.expansion.d (core -> higher stage expansion)"]
    assert found[f"{PACKAGE}.expansion.d"]["lazy"] == [(2, "json")]
