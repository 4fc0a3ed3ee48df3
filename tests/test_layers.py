"""docs/architecture.md, "Layers": imports point down only, a module imports its own layer or
lower, and no module imports itself through others (no import circle)."""

import ast
from pathlib import Path

import parcours

LAYERS = {
    "errors": 0, "schema": 0, "config": 0, "query": 0, "exprs": 0, "identifiers": 0, "conditions": 0, "cells": 0,
    "simulate": 0,  # uses base only
    "storage": 1, "tablestore": 1, "warehouse": 1, "spark": 1, "engines": 1, "ingest": 1, "ga4": 1, "workspace": 1,
    "inventory": 1,
    "channels": 2, "identity": 2, "journeys": 2, "message_events": 2, "profiles": 2,
    "attribution": 3, "audiences": 3, "webhooks": 3, "privacy": 3, "predict": 3,
    "reports": 4,
    "jobs": 5,
    "front": 8, "client": 8,
    "cli": 9, "api": 9, "web": 9,
}
PACKAGE = Path(parcours.__file__).parent


def parcours_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("parcours"):
            parts = node.module.split(".")
            names.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("parcours."))
    return names


def modules() -> dict[str, Path]:
    """Top-level modules and packages (a package's files share its layer)."""
    found = {p.stem: [p] for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    found.update({d.name: sorted(d.glob("*.py")) for d in PACKAGE.iterdir()
                  if d.is_dir() and (d / "__init__.py").exists()})
    return found


def test_every_module_has_a_layer():
    assert set(modules()) == set(LAYERS)


def test_imports_point_down_only():
    wrong = []
    for name, paths in modules().items():
        layer = LAYERS[name]
        for imported in set().union(*(parcours_imports(p) for p in paths)) - {name}:
            if LAYERS[imported] > layer or (name == "simulate" and imported != "errors"):
                wrong.append(f"{name} (layer {layer}) imports {imported} (layer {LAYERS[imported]})")
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
                for a in node.names:  # `from parcours import schema` depends on parcours.schema
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
    for name, paths in modules().items():
        # config: the setting itself; ga4: reads an export with DuckDB whatever the engine, as loads do
        if name in {"storage", "warehouse", "spark", "tablestore", "engines", "config", "ga4"}:
            continue
        for path in paths:
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
