"""A workspace is a folder: its config (`parcours.toml`), its warehouse, and while `parcours
serve` runs on a warehouse one process holds (DuckDB), the server's address: other parcours
commands on the workspace then ask the server rather than the file (docs/architecture.md,
"One writer, many readers"). `Folder` is what the layers below the front door need of it;
`parcours.Workspace` (front.py) adds every job as a method."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Self

from parcours.contract.config import CONFIG_NAMES, Config, default_config_text, load_config
from parcours.errors import NotBuilt

if TYPE_CHECKING:
    from parcours.engine.storage import Storage

SERVER_FILE = ".parcours-server.json"


@dataclass(frozen=True)
class Server:
    """A running `parcours serve`: where it listens, and the token it gives this machine's
    commands the write scope with (the file is readable by the workspace's owner only)."""

    url: str
    pid: int
    token: str


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class Folder:
    """The workspace's folder: its config, its warehouse (opened on first use), its server."""

    def __init__(self, path: Path | str = "."):
        self.path = Path(path).resolve()

    @classmethod
    def init(cls, path: Path | str = ".") -> Self:
        """Create the folder and a config holding every default, to be edited."""
        ws = cls(path)
        ws.path.mkdir(parents=True, exist_ok=True)
        if not any((ws.path / n).exists() for n in CONFIG_NAMES):
            (ws.path / "parcours.toml").write_text(default_config_text(), "utf-8")
        return ws

    @cached_property
    def config(self) -> Config:
        return load_config(self.path)

    @cached_property
    def warehouse(self) -> Storage:
        from parcours.engine.engines import open_warehouse  # the engine, when a job reads or writes

        return open_warehouse(self.path, self.config.warehouse)

    def close(self) -> None:
        if "warehouse" in self.__dict__:
            self.warehouse.close()
            del self.__dict__["warehouse"]

    def has_warehouse(self) -> bool:
        """Whether data was ever loaded here (opening the warehouse would create it)."""
        from parcours.engine.engines import warehouse_exists

        return warehouse_exists(self.path, self.config.warehouse)

    def require_warehouse(self) -> None:
        """NotBuilt, saying what to do, when no data was ever loaded here."""
        if not self.has_warehouse():
            raise NotBuilt(f"no warehouse in {self.path}; load data with `parcours ingest` first")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the server holding the warehouse ------------------------------------------------
    def server(self) -> Server | None:
        """The live server registered on this workspace, if any (a killed one's file is stale;
        a damaged one names no server: the next `parcours serve` writes it anew)."""
        try:
            found = Server(**json.loads((self.path / SERVER_FILE).read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        named = (type(found.pid) is int and 0 < found.pid < 2**31 and isinstance(found.token, str)
                 and isinstance(found.url, str) and found.url.startswith(("http://", "https://")))
        return found if named and _alive(found.pid) else None

    @contextmanager
    def serving(self, url: str) -> Iterator[Server]:
        """Register this process as the workspace's server until the block ends."""
        me = Server(url, os.getpid(), secrets.token_urlsafe(24))
        path = self.path / SERVER_FILE
        tmp = path.with_name(f"{SERVER_FILE}.{me.pid}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(me), fh)
        os.replace(tmp, path)
        try:
            yield me
        finally:
            try:
                if json.loads(path.read_text("utf-8")).get("pid") == me.pid:
                    path.unlink()
            except (OSError, ValueError):
                pass
