"""A workspace is a folder: its config (`parcours.toml`) and its warehouse file."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from parcours.config import CONFIG_NAMES, Config, default_config_text, load_config
from parcours.engines import open_warehouse
from parcours.storage import Storage


class Workspace:
    def __init__(self, path: Path | str = "."):
        self.path = Path(path).resolve()

    @classmethod
    def init(cls, path: Path | str = ".") -> Workspace:
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
        return open_warehouse(self.path, self.config.warehouse)

    def close(self) -> None:
        if "warehouse" in self.__dict__:
            self.warehouse.close()
            del self.__dict__["warehouse"]

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
