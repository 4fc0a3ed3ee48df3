"""What a build did, as its caller (the command line, a client of the server) reads it: a
module of its own, so a command asking a server for a build imports neither Ibis nor pandas."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass
class BuildResult:
    as_of: dt.date
    cut: dt.datetime  # conversions strictly before this instant are built
    persons: int
    journeys: int
    converting: int
    touches: int
    rebuilt: int | None = None  # persons rebuilt by an incremental build (None: a full one)

    @classmethod
    def from_plain(cls, d: dict) -> BuildResult:
        """From its JSON (a build the server ran)."""
        return cls(**{**d, "as_of": dt.date.fromisoformat(d["as_of"]), "cut": dt.datetime.fromisoformat(d["cut"])})
