"""Fixtures shared by the tests: real DuckDB workspaces in temporary folders, and the
hand-built datasets of builders.py loaded into them."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import build_rule_journeys, build_shop, build_three
from parcours import Workspace


@pytest.fixture
def ws(tmp_path: Path):
    w = Workspace.init(tmp_path / "ws")
    yield w
    w.close()


@pytest.fixture
def shop(ws):
    """Journeys A-F of the report tests, built as of AS_OF."""
    return build_shop(ws)


@pytest.fixture
def journeys(ws):
    """Journeys A-E of the attribution tests, built as of AS_OF."""
    return build_rule_journeys(ws)


@pytest.fixture
def three(ws):
    """Persons A, B, C of the profile and audience tests (builders.build_three), built."""
    return build_three(ws)
