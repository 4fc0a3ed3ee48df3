"""design.md section 6: imports point down only. A module imports its own layer or lower."""

import ast
from pathlib import Path

import parcours

LAYERS = {
    "errors": 0, "schema": 0, "config": 0, "query": 0, "exprs": 0,
    "simulate": 0,  # uses base only
    "tablestore": 1, "warehouse": 1, "spark": 1, "ingest": 1, "workspace": 1, "inventory": 1,
    "channels": 2, "identity": 2, "journeys": 2,
    "attribution": 3,
    "reports": 4,
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



def test_only_the_storage_layer_knows_the_engine():
    """No code path above the warehouse branches on the backend: no engine imports, no
    reading of `engine`, no backend names in code (comments may say what they work around)."""
    wrong = []
    for name, paths in modules().items():
        if name in {"warehouse", "spark", "tablestore", "config"}:  # config: the setting itself
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
