"""Which engine a workspace runs on: `[warehouse] engine` picks the warehouse class.

The one place that names both engines, so neither storage module imports the other's
opener (docs/architecture.md, "Storage").
"""

from __future__ import annotations

from pathlib import Path

from parcours.contract.config import WarehouseSettings
from parcours.engine.storage import Storage
from parcours.errors import ConfigError


def warehouse_exists(folder: Path, settings: WarehouseSettings) -> bool:
    """Whether anything was ever stored in this workspace's warehouse."""
    if settings.engine == "spark":
        return (folder / settings.parquet_path / "_manifest.json").exists()
    return (folder / settings.path).exists()


def open_warehouse(folder: Path, settings: WarehouseSettings) -> Storage:
    """The workspace's warehouse: `settings.engine` says which."""
    if settings.engine == "spark":
        try:
            from parcours.engine.spark import SparkWarehouse
        except ImportError as exc:
            raise ConfigError(f"engine = \"spark\" needs pyspark: pip install 'parcours[spark]' "
                              f"({exc})", field="warehouse.engine") from None
        return SparkWarehouse(folder, settings)
    from parcours.engine.warehouse import Warehouse

    return Warehouse(folder / settings.path, settings)
