"""One exception hierarchy; faces turn it into a CLI message, an HTTP 4xx or a page message."""

from __future__ import annotations


class ParcoursError(Exception):
    """Base of every error parcours raises on purpose."""


class InvalidInput(ParcoursError):
    """Input the user gave is wrong; says which file, row and field when it knows them."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 field: str | None = None):
        where = ", ".join(
            part for part in (
                f"file {file}" if file else "",
                f"row {row}" if row is not None else "",
                f"field {field}" if field else "",
            ) if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.row, self.field, self.reason = file, row, field, message


class NotFound(InvalidInput):
    """What the input names does not exist (an audience, a person): a 404 over HTTP."""


class ConfigError(InvalidInput):
    """The workspace configuration is wrong."""


class NotBuilt(ParcoursError):
    """A derived table is asked for before `parcours build` made it."""


class WarehouseBusy(ParcoursError):
    """Another process holds the warehouse file (DuckDB allows one writer)."""


class OutOfMemory(ParcoursError):
    """The engine hit its memory limit; the message says which setting to change."""
