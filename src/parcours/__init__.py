"""parcours: customer-journey analytics and multi-touch attribution.

The engine builds Ibis expressions; DuckDB runs them on one machine, Spark on a cluster
(`[warehouse] engine`), and only the storage layer knows which (docs/architecture.md).
`Workspace` is imported on first use, so `import parcours` (and the command line) starts
without loading the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parcours.errors import InvalidInput, NotBuilt, ParcoursError

if TYPE_CHECKING:
    from parcours.workspace import Workspace

__all__ = ["Workspace", "ParcoursError", "InvalidInput", "NotBuilt"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Workspace":
        from parcours.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'parcours' has no attribute {name!r}")
