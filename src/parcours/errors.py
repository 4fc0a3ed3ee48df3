"""One exception hierarchy; each face maps it once (the CLI: one line and exit 2; HTTP: a 4xx
naming the field; the pages: a message). An error a user causes is also the matching built-in
(`InvalidInput` is a `ValueError`, as ibis's `IbisInputError`), so code that catches the
built-in keeps working, and the HTTP client raises these same classes."""

from __future__ import annotations

import errno


class ParcoursError(Exception):
    """Base of every error parcours raises on purpose."""


class InvalidInput(ParcoursError, ValueError):
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


class DeclarationError(ParcoursError, ValueError):
    """The code declares something wrong (two reports or models of one name, a report option
    the Query lacks): a developer's error, raised when the declaration is imported."""


class NotBuilt(ParcoursError):
    """A derived table is asked for before `parcours build` made it."""


class WarehouseBusy(ParcoursError):
    """Another process holds the warehouse file (DuckDB allows one writer)."""


class OutOfMemory(ParcoursError):
    """The engine hit its memory limit; the message says which setting to change."""


class DiskFull(ParcoursError):
    """A disk parcours writes to (the workspace, the engine's temp directory) is full; nothing
    of the command was written, and the message names where."""


class EngineLost(ParcoursError):
    """The engine's cluster lost a worker, or what one held, in the middle of a job: nothing
    of the job was committed, and running it again on the workers left succeeds."""


class ReadOnlyWorkspace(ParcoursError):
    """The workspace (its folder or its database) cannot be written; the message names it."""


# Each error's HTTP status: the first class an error is an instance of gives it (a subclass
# before its base). The API answers with it; the HTTP client raises the class back from it.
STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotBuilt, 409), (WarehouseBusy, 503), (EngineLost, 503), (ReadOnlyWorkspace, 503), (DiskFull, 507),
    (NotFound, 404), (InvalidInput, 400), (ParcoursError, 400), (ValueError, 400),
)


def status_of(exc: Exception) -> int:
    return next(status for kind, status in STATUS if isinstance(exc, kind))


def error_of(status: int, message: str) -> ParcoursError:
    """The error a server's refusal stands for (422, 413: the input too); ParcoursError when the
    status is no error of the family. A 503 is a busy warehouse unless it says it cannot write."""
    if status == 503 and "cannot be written" in message:
        return ReadOnlyWorkspace(message)
    if status in (413, 422):
        return InvalidInput(message)
    kind = next((k for k, code in STATUS if code == status and issubclass(k, ParcoursError)), ParcoursError)
    return kind(message)


FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def storage_error(exc: OSError, where: object = None) -> ParcoursError | None:
    """A file parcours failed to write (rejects, audiences.json, an export, the workspace
    itself) as what the user fixes on the machine, naming the path (the file's, else `where`,
    else the workspace's); None for another OSError."""
    path = exc.filename or where or "the workspace"
    if exc.errno in FULL_ERRNOS:
        return DiskFull(f"the disk holding {path} is full ({exc.strerror}): free space there and run the "
                        "command again; what was stored before is kept")
    if exc.errno in READ_ONLY_ERRNOS:
        return ReadOnlyWorkspace(f"{path} cannot be written ({exc.strerror}): make it writable, or work on a "
                                 "copy of the workspace")
    return None
