"""The front door: every job parcours does, as a typed method of a workspace.

`parcours.open(path)` gives the workspace a program, the `parcours` command or a notebook
works on: a `Workspace`, which reads and writes the warehouse itself, or, while `parcours
serve` holds that warehouse (DuckDB: one process), a `RemoteWorkspace`, which asks the server
over HTTP and returns the same types. Both implement `Door`, so "a server holds this
workspace" is decided once, here, and never in a command. The server's jobs call the same
`Workspace` methods (docs/architecture.md, "One engine, four faces").

`Workspace` (local.py) brings the engine with it, so it is imported when first asked for: a
command a server answers (`RemoteWorkspace`, remote.py) imports no Ibis, pandas or scikit-learn
(DuckDB only to check the config's regexes as the engine reads them).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parcours.engine.workspace import Folder
from parcours.front.client import Remote
from parcours.front.door import Attributed, AudienceSize, Built, Door, Progress
from parcours.front.remote import RemoteWorkspace

if TYPE_CHECKING:
    from parcours.front.local import Workspace

__all__ = ["Attributed", "AudienceSize", "Built", "Door", "Progress", "RemoteWorkspace", "Workspace",
           "open_workspace"]


def __getattr__(name: str) -> Any:
    if name == "Workspace":
        from parcours.front.local import Workspace

        return Workspace
    raise AttributeError(f"module 'parcours.front' has no attribute {name!r}")


def open_workspace(path: Path | str = ".",
                   told: Callable[[str], None] = lambda said: None) -> Workspace | RemoteWorkspace:
    """The workspace at `path`: asked of the server that holds it, if one runs (`told` hears
    so), else read and written here."""
    folder = Folder(path)
    server = folder.server()
    if server is None:
        from parcours.front.local import Workspace

        return Workspace(path)
    told(f"parcours serve (pid {server.pid}) holds this workspace: asking it at {server.url}")
    return RemoteWorkspace(folder, Remote(server))
