"""A library imported when first used, not when the module naming it is imported.

Ibis, pandas and SciPy cost 0.2-0.4 s each to import. The model classes every command lists
(`parcours models`, the registry) and a path file's attribution need none of them, so the
modules defining the models name them with `module()` and the cost falls on the code that
uses them. This is the standard library's own recipe (`importlib.util.LazyLoader`, in the
`importlib` documentation, "Implementing lazy imports"); a module already imported is
returned as it is. Code that needs the library's types names it under `TYPE_CHECKING`:

    if TYPE_CHECKING:
        import ibis
    else:
        ibis = lazy.module("ibis")
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def module(name: str) -> ModuleType:
    """`name`, loaded at its first attribute access (its parent packages are loaded now)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    lazy = importlib.util.module_from_spec(spec)
    sys.modules[name] = lazy
    loader.exec_module(lazy)
    return lazy
