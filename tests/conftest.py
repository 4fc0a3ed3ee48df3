"""Fixtures shared by the tests: real DuckDB workspaces in temporary folders, and the
hand-built datasets of builders.py loaded into them.

A workspace a dataset is loaded and built into is built once per session (per xdist worker)
and never written afterwards: each test gets its own copy of its folder (a copy takes
milliseconds, a build seconds), so a test may write to its workspace as before."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

from builders import build_rule_journeys, build_shop, build_three
from parcours import Workspace

# One core a worker: `make test` runs two workers on two cores, and scikit-learn's OpenMP threads
# (the propensity model) would otherwise take both cores from under the other worker's Spark.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Hypothesis: no deadline (a shared CI machine's pauses are no failure of the code under test);
# the example counts are each test's own (@settings). HYPOTHESIS_PROFILE picks another profile.
settings.register_profile("ci", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The datasets a test asks for by a fixture of this name; the `ws` of such a test is a copy of
# the dataset's workspace (built once), so `ws` and the dataset's fixture stay one workspace.
BUILT: dict[str, Callable[[Workspace], object]] = {
    "shop": build_shop,
    "journeys": build_rule_journeys,
    "three": build_three,
}


@pytest.fixture(scope="session")
def built_workspace(tmp_path_factory) -> Callable[[str], Path]:
    """name -> the folder of BUILT[name]'s workspace, built on first use and closed. Read-only:
    copy it (`copy_workspace`) to write."""
    folders: dict[str, Path] = {}

    def folder(name: str) -> Path:
        if name not in folders:
            path = tmp_path_factory.mktemp(f"built-{name}") / "ws"
            with Workspace.init(path) as w:
                BUILT[name](w)
            folders[name] = path
        return folders[name]

    return folder


def copy_workspace(source: Path, to: Path) -> Workspace:
    """A workspace of its own: a copy of a workspace folder built once."""
    return Workspace(shutil.copytree(source, to))


@pytest.fixture
def ws(request, tmp_path: Path, built_workspace):
    """An empty workspace, or a copy of the built one of the dataset the test asks for."""
    wanted = [name for name in BUILT if name in request.fixturenames]
    assert len(wanted) <= 1, f"one dataset a workspace: {wanted}"
    w = copy_workspace(built_workspace(wanted[0]), tmp_path / "ws") if wanted else Workspace.init(tmp_path / "ws")
    yield w
    w.close()


@pytest.fixture
def shop(ws):
    """Journeys A-F of the report tests, built as of AS_OF (builders.build_shop)."""
    return ws


@pytest.fixture
def journeys(ws):
    """Journeys A-E of the attribution tests, built as of AS_OF (builders.build_rule_journeys)."""
    return ws


@pytest.fixture
def three(ws):
    """Persons A, B, C of the profile and audience tests (builders.build_three), built."""
    return ws


# --- with xdist (`-n 2 --dist loadgroup`, pyproject's addopts): what is built once runs on one worker.
# Under `--dist load` the tests of a module are split between the workers, and a module-scoped
# fixture (a simulated workspace) is built on each; a Spark test starts a JVM on each.


def _group(config, item, name: str) -> None:
    item.add_marker(pytest.mark.xdist_group(name))
    # xdist (3.8) tells the group by a "@name" it appends to `item._nodeid`, which pytest 9.2 no
    # longer reads (a node's id is `item._id`): appended here so the groups hold on either.
    if getattr(config.option, "loadgroup", False) and hasattr(item, "_id") and "@" not in item.nodeid:
        item._id = type(item._id).parse(f"{item.nodeid}@{name}")


# The groups that take minutes, sent first (`--no-loadscope-reorder` in pyproject keeps this
# order; xdist would send the groups of most tests first): the other worker runs the short
# tests meanwhile, and the run does not end on one worker busy with a long group.
FIRST = ("spark", "cluster", "test_predict_flow", "test_serving", "test_warehouse", "test_incremental")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks
def pytest_collection_modifyitems(config, items):
    """Each Spark test to the worker of the others (one JVM, started once), but the cluster's,
    whose driver is a process of its own, beside them; the tests of a module that share a
    module-scoped fixture of their module to one worker (built once); the long groups first."""
    for item in items:
        if item.get_closest_marker("cluster"):
            _group(config, item, "cluster")
            continue
        if item.get_closest_marker("spark"):
            _group(config, item, "spark")
            continue
        module = getattr(item, "module", None)
        shared = module is not None and any(
            d.scope in ("module", "class", "package") and getattr(d.func, "__module__", None) == module.__name__
            for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs)
        if shared:
            _group(config, item, module.__name__)
    items.sort(key=_rank)


def _rank(item) -> int:
    """Its group's place in FIRST; the rest after, in their order."""
    name = ("cluster" if item.get_closest_marker("cluster") else "spark" if item.get_closest_marker("spark")
            else getattr(getattr(item, "module", None), "__name__", ""))
    return FIRST.index(name) if name in FIRST else len(FIRST)
