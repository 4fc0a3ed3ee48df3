"""The front door (parcours.front): `Workspace` does every job itself, `RemoteWorkspace` asks the
server holding the workspace, and both answer the `Door` protocol with the same types, so
`parcours.open` decides once which one a caller gets."""

import datetime as dt
import inspect

import pandas as pd
import pytest

import parcours
from builders import AS_OF, write_csv
from parcours.contract.query import Query
from parcours.errors import InvalidInput, NotBuilt, NotFound
from parcours.faces.api import served
from parcours.front import AudienceSize, Built, Door, RemoteWorkspace, Workspace, open_workspace
from parcours.front.jobs import plain
from parcours.load.ingest import LoadResult
from parcours.load.inventory import Facts
from parcours.reports import ReportResult


def door_problems(cls) -> list[str]:
    """Every method of the protocol, with its parameters, on `cls`."""
    wrong = []
    for name, member in inspect.getmembers(Door):
        if name.startswith("_") or not callable(member):
            continue
        if not hasattr(cls, name):
            wrong.append(f"{cls.__name__} lacks {name}")
        elif list(inspect.signature(getattr(cls, name)).parameters) != list(inspect.signature(member).parameters):
            wrong.append(f"{cls.__name__}.{name} takes other parameters than Door.{name}")
    return wrong + ([] if hasattr(cls, "config") else [f"{cls.__name__} lacks config"])


def test_both_workspaces_offer_every_job_of_the_door():
    assert door_problems(Workspace) == []
    assert door_problems(RemoteWorkspace) == []


def test_the_check_finds_a_missing_or_different_job():
    class Partial:
        config = None

        def load(self, table, path):  # fewer parameters
            pass

    problems = door_problems(Partial)
    assert "Partial.load takes other parameters than Door.load" in problems
    assert "Partial lacks build" in problems and "Partial lacks report" in problems


def test_the_package_offers_the_front_door():
    assert parcours.Workspace is Workspace and parcours.open is open_workspace
    assert parcours.RemoteWorkspace is RemoteWorkspace


def _tp(event_id: str, visitor: str, channel: str, day: int) -> dict:
    ts = dt.datetime(2026, 11, day, 10)
    return dict(event_id=event_id, ts=ts.isoformat() + "Z", visitor_id=visitor, channel=channel, device="desktop",
                interaction="click")


def _conv(cid: str, visitor: str, day: int, revenue: float) -> dict:
    ts = dt.datetime(2026, 11, day, 12)
    return dict(conversion_id=cid, ts=ts.isoformat() + "Z", visitor_id=visitor, device="desktop",
                revenue=str(revenue), kind="sale", email=f"{visitor.lower()}@example.com")


@pytest.fixture
def files(tmp_path):
    touchpoints = write_csv(tmp_path / "touchpoints.csv", [
        _tp("a1", "A", "display", 10), _tp("a2", "A", "email", 12), _tp("b1", "B", "paid_search", 15),
        _tp("c1", "C", "email", 16)])
    conversions = write_csv(tmp_path / "conversions.csv", [_conv("A", "A", 12, 100.0), _conv("B", "B", 15, 50.0)])
    late = write_csv(tmp_path / "late.csv", [_tp("c2", "C", "display", 17)])
    return touchpoints, conversions, late


def test_one_scenario_through_each_door(tmp_path, files):
    """Load, build, report, audiences, info and forget: locally, then through a server holding the
    workspace, with the same answers."""
    touchpoints, conversions, late = files
    with open_workspace(Workspace.init(tmp_path / "ws").path) as ws:
        assert isinstance(ws, Workspace)
        with pytest.raises(NotBuilt, match="no warehouse"):
            ws.report("model-comparison")
        loaded = ws.load("touchpoints", touchpoints)
        assert isinstance(loaded, LoadResult) and loaded.inserted == 4
        assert ws.load("conversions", conversions).inserted == 2
        built = ws.build(as_of=AS_OF)
        assert isinstance(built, Built) and (built.result.persons, built.result.converting) == (3, 2)
        local = ws.report("model-comparison", Query(start=dt.date(2026, 11, 1)))
        assert isinstance(local, ReportResult) and local.totals["conversions"] == 2
        assert ws.save_audience("emailed", {"touched": "email"}) == 2
        facts = ws.info()
        with pytest.raises(InvalidInput, match="unknown report 'nope'"):
            ws.report("nope")
        path = ws.path
    with served(path), open_workspace(path, told=lambda said: None) as remote:
        assert isinstance(remote, RemoteWorkspace)
        said = remote.report("model-comparison", Query(start=dt.date(2026, 11, 1)))
        assert said.totals == local.totals
        pd.testing.assert_frame_equal(said.table, local.table, check_dtype=False, rtol=1e-9)
        assert plain(remote.info()) == plain(facts) and isinstance(facts, Facts)  # the same, as JSON carries it
        assert remote.audiences() == [AudienceSize("emailed", 2, "workspace", "")]
        assert remote.audience_size({"touched": "display"}) == 1
        with pytest.raises(InvalidInput, match="unknown report 'nope'"):
            remote.report("nope")
        with pytest.raises(NotFound):
            remote.delete_audience("nobody")
        assert remote.load("touchpoints", late).inserted == 1
        assert remote.build(as_of=AS_OF).result.touches == built.result.touches + 1
        assert remote.forget("A")["touchpoints"] == 2
    with Workspace(path) as ws:
        assert ws.info().tables["touchpoints"][0] == 3
        assert ws.audience_size({"touched": "display"}) == 1  # C, A forgotten
