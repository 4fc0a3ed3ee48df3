"""design.md section 6: imports point down only. A module imports its own layer or lower."""

import ast
from pathlib import Path

import parcours

LAYERS = {
    "errors": 0, "schema": 0, "config": 0,
    "simulate": 0,  # uses base only
    "warehouse": 1, "ingest": 1, "workspace": 1, "inventory": 1,
    "channels": 2, "identity": 2, "journeys": 2,
    "cli": 9,
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


def test_every_module_has_a_layer():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(LAYERS)


def test_imports_point_down_only():
    wrong = []
    for name, layer in LAYERS.items():
        for imported in parcours_imports(PACKAGE / f"{name}.py"):
            if LAYERS[imported] > layer or (name == "simulate" and imported != "errors"):
                wrong.append(f"{name} (layer {layer}) imports {imported} (layer {LAYERS[imported]})")
    assert wrong == []
