"""parcours: customer-journey analytics and multi-touch attribution.

The engine builds Ibis expressions; DuckDB runs them on one machine, Spark on a cluster
(`[warehouse] engine`), and only the storage layer knows which (docs/architecture.md).
The front door is `parcours.open(path)` (or `Workspace(path)`): every job as a typed method
(front.py). It is imported on first use, so `import parcours` (and the command line) starts
without loading the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parcours.errors import InvalidInput, NotBuilt, NotFound, ParcoursError

if TYPE_CHECKING:
    from parcours.front import Door, RemoteWorkspace, Workspace  # noqa: A004
    from parcours.front import open_workspace as open

__all__ = ["Workspace", "RemoteWorkspace", "Door", "open", "ParcoursError", "InvalidInput", "NotFound", "NotBuilt"]
__version__ = "0.1.0"

_FRONT = {"Workspace": "Workspace", "RemoteWorkspace": "RemoteWorkspace", "Door": "Door", "open": "open_workspace"}


def __getattr__(name: str) -> Any:
    if name in _FRONT:
        from parcours import front

        return getattr(front, _FRONT[name])
    raise AttributeError(f"module 'parcours' has no attribute {name!r}")
