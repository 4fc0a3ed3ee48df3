"""docs/architecture.md, "Layers": imports point down only, a module imports its own layer or
lower, and no module imports itself through others (no import circle)."""

import ast
from pathlib import Path

import parcours

FOLDERS = {  # each folder (or top module) of src/parcours and its layer
    "errors": 0, "lazy": 0, "contract": 0, "simulate": 0,
    "engine": 1, "load": 1,
    "build": 2,
    "attribution": 3, "predict": 3, "activation": 3,
    "reports": 4,
    "front": 8,
    "faces": 9,
}
# the modules whose layer is not their folder's: the server's job queue sits below the front
# door whose methods it calls
MODULES = {"front.jobs": 5}
PACKAGE = Path(parcours.__file__).parent


def modules() -> dict[str, Path]:
    """Every module of the package by its dotted name under parcours ("contract.schema",
    "faces.api.app"; a package by its folder's name: "front")."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if parts:
            found[".".join(parts)] = path
    return found


def layer(name: str) -> int:
    """A module's layer: its own when declared, else its folder's."""
    for declared, n in MODULES.items():
        if name == declared or name.startswith(declared + "."):
            return n
    return FOLDERS[name.split(".")[0]]


def parcours_imports(path: Path, known: set[str]) -> set[str]:
    """The modules of the package `path` imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("parcours"):
            base = node.module.removeprefix("parcours").lstrip(".")
            for a in node.names:
                sub = f"{base}.{a.name}" if base else a.name
                names.add(sub if sub in known else base)
        elif isinstance(node, ast.Import):
            names.update(a.name.removeprefix("parcours.") for a in node.names if a.name.startswith("parcours."))
    return names - {""}


def test_every_folder_has_a_layer():
    assert {name.split(".")[0] for name in modules()} == set(FOLDERS)
    assert set(MODULES) <= set(modules())


def test_imports_point_down_only():
    found = modules()
    wrong = []
    for name, path in found.items():
        for imported in parcours_imports(path, set(found)) - {name}:
            if layer(imported) > layer(name) or (name.startswith("simulate") and imported.split(".")[0] not in (
                    "errors", "simulate")):
                wrong.append(f"{name} (layer {layer(name)}) imports {imported} (layer {layer(imported)})")
    assert wrong == []


def module_graph() -> dict[str, set[str]]:
    """Every module of the package (dotted name) -> the package modules it imports, at any
    depth of its code (a lazy import inside a function is an edge too)."""
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("parcours", *path.relative_to(PACKAGE).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        edges = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("parcours"):
                for a in node.names:  # `from parcours.contract import schema` depends on parcours.contract.schema
                    sub = f"{node.module}.{a.name}"
                    edges.add(sub if sub in files else node.module)
            elif isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name.startswith("parcours"))
    return {name: {e for e in edges if e in files and e != name} for name, edges in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    import networkx as nx

    return sorted(sorted(c) for c in nx.simple_cycles(nx.DiGraph([(a, b) for a, bs in graph.items() for b in bs])))


def test_no_import_circle():
    assert cycles(module_graph()) == []


def test_the_circle_check_finds_a_circle():
    graph = {"parcours.a": {"parcours.b"}, "parcours.b": {"parcours.c"}, "parcours.c": {"parcours.a"},
             "parcours.d": set()}
    assert cycles(graph) == [["parcours.a", "parcours.b", "parcours.c"]]


def test_only_the_storage_layer_knows_the_engine():
    """No code path above the warehouse branches on the backend: no engine imports, no
    reading of `engine`, no backend names in code (comments may say what they work around)."""
    wrong = []
    for name, path in modules().items():
        # config: the setting itself; ga4: reads an export with DuckDB whatever the engine, as loads do
        if name.startswith("engine") or name in {"contract.config", "load.ga4"}:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                wrong += [f"{path.name} imports {m}" for m in mods
                          if m.split(".")[0] in ("duckdb", "pyspark") or "backends" in m]
            elif isinstance(node, ast.Attribute) and node.attr in ("engine", "_raw", "_session"):
                wrong.append(f"{path.name}:{node.lineno} reads .{node.attr}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.lower() in ("duckdb", "spark", "pyspark"):
                wrong.append(f"{path.name}:{node.lineno} names {node.value!r}")
    assert wrong == []


def test_tests_share_fixtures_through_conftest_not_by_importing_each_other():
    tests = Path(__file__).parent
    wrong = []
    for path in tests.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            wrong += [f"{path.name} imports {n}" for n in names if n.startswith("test_") or n == "conftest"]
    assert wrong == []
