"""Reports on a simulated workspace: conservation (buckets and drill-downs add up, every
model totals the conversions, totals agree with the real-time summary), exports read back,
formula injection neutralised, and the CLI face."""

import csv
import datetime as dt
import io
import json

import openpyxl
import pytest
from typer.testing import CliRunner

from builders import AS_OF, load_rows
from parcours import Workspace
from parcours.build.journeys import build_journeys
from parcours.contract.query import Query
from parcours.faces.cli import app
from parcours.reports import REPORTS, run_report, summary
from parcours.reports.export import neutralise
from parcours.simulate import simulate

PERIOD = dict(start=dt.date(2026, 9, 1), end=dt.date(2026, 11, 21))


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    simulate(root / "data", persons=3000, seed=3, days=90, end=AS_OF)
    ws = Workspace.init(root / "ws")
    from parcours.load.ingest import load_file
    for table in ("touchpoints", "conversions", "identities", "costs"):
        load_file(ws.warehouse, table, root / "data" / f"{table}.parquet")
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    yield ws
    ws.close()


def run(ws, name, **q):
    return run_report(name, ws.warehouse, ws.config, Query(**{**PERIOD, **q}))


def test_every_report_runs_and_counts_the_same_conversions(sim):
    j = sim.warehouse.table("journeys")
    j = j.filter(j.converted, j.conv_ts >= dt.datetime(2026, 9, 1), j.conv_ts < dt.datetime(2026, 11, 22))
    expected = int(j.count().execute())
    assert expected > 100
    for name in REPORTS:
        r = run(sim, name)
        assert r.totals["conversions"] == pytest.approx(expected), name
        assert r.figure.to_dict()["data"], name  # the simple mode has something to draw


@pytest.mark.parametrize(("name", "column"), [("time-lag", "conversions"), ("path-length", "conversions"),
                                          ("cross-device", "conversions"), ("mono-device", "conversions")])
def test_buckets_sum_to_the_total(sim, name, column):
    r = run(sim, name, new_customer=True)
    assert r.table[column].sum() == pytest.approx(r.totals["conversions"])
    assert r.table.revenue.sum() == pytest.approx(r.totals["revenue"])


def test_every_model_totals_the_conversions_and_drill_downs_add_up(sim):
    models = ("last_touch", "first_touch", "linear", "position_based", "time_decay", "markov", "shapley",
              "ordered_shapley", "shapley_rate")
    top = run(sim, "model-comparison", models=models)
    for m in models:
        assert top.table[f"{m}_conversions"].sum() == pytest.approx(top.totals["conversions"]), m
    by_channel = top.table.set_index("row")
    for channel in ("display", "paid_search", "email"):
        down = run_report("model-comparison", sim.warehouse, sim.config,
                          Query(**PERIOD, models=models).drill(channel))
        for m in models:
            assert down.table[f"{m}_conversions"].sum() == pytest.approx(by_channel.loc[channel, f"{m}_conversions"])
        source = down.table.row.iloc[0]
        deeper = run_report("model-comparison", sim.warehouse, sim.config,
                            Query(**PERIOD, models=models).drill(channel).drill(source))
        assert deeper.query["parent"] == {"channel": channel, "source": source}
        assert deeper.table.linear_conversions.sum() == pytest.approx(
            down.table.set_index("row").loc[source, "linear_conversions"])


def test_assists_and_mono_channel_drill_down_stay_inside_the_parent(sim):
    for name in ("assists", "mono-channel", "engagement"):
        top = run(sim, name).table.set_index("row")
        down = run_report(name, sim.warehouse, sim.config, Query(**PERIOD).drill("display")).table
        assert set(down.row) <= set(sim.warehouse.table("touches").filter(
            lambda t: t.channel == "display").source.to_pandas())
        if name == "engagement":
            assert down.touches.sum() == top.loc["display", "touches"]


def test_reports_stay_within_tolerance_of_the_summary(sim):
    s = summary(sim.warehouse, sim.config, start=PERIOD["start"], end=AS_OF, today=AS_OF)
    r = run(sim, "time-lag")
    assert abs(r.totals["conversions"] - s.totals["summary_conversions_until_cut"]) <= 0.05 * r.totals["conversions"]
    assert abs(s.totals["difference"]) <= sim.config.reports.summary_tolerance and s.warnings == []
    assert s.totals["conversions"] >= s.totals["summary_conversions_until_cut"]  # today and yesterday too


def test_csv_and_xlsx_exports_read_back(sim, tmp_path):
    r = run(sim, "assists")
    text = r.to_csv(delimiter=";", bom=True)
    assert text.startswith("\ufeffrow;last_touch_conversions;")
    back = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert len(back) == len(r.table)
    assert float(back[0]["last_touch_value"]) == pytest.approx(r.table.last_touch_value[0])
    path = r.to_xlsx(tmp_path / "assists.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[:2] == ["assists", "query"]
    sheet = book["assists"]
    assert sheet.freeze_panes == "B2"  # the header and the first column stay
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["row", "last_touch_conversions", "last_touch_value"]
    assert isinstance(sheet.cell(2, 2).value, int | float) and sheet.cell(2, 2).value == r.table.iloc[0, 1]
    assert sheet.cell(2, 3).number_format == "#,##0.00"
    query = {row[0].value: row[1].value for row in book["query"].iter_rows(min_row=2)}
    assert query["start"] == "2026-09-01" and query["end"] == "2026-11-21" and query["level"] == "channel"
    assert query["total: conversions"] == r.totals["conversions"]


def test_formula_injection_is_neutralised(ws, tmp_path):
    nasty = ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)"]  # ingest trims tabs and CRs
    load_rows(ws, "touchpoints", [dict(event_id=f"e{i}", ts="2026-10-10T10:00:00Z", visitor_id=f"v{i}", channel=ch)
                                  for i, ch in enumerate(nasty)])
    load_rows(ws, "conversions", [dict(conversion_id=f"c{i}", ts="2026-10-11T10:00:00Z", visitor_id=f"v{i}",
                                       revenue="5") for i in range(len(nasty))])
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    october = Query(start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31))
    r = run_report("mono-channel", ws.warehouse, ws.config, october)
    assert set(r.table.row) == set(nasty)
    cells = {row[0] for row in csv.reader(io.StringIO(r.to_csv()))} - {"row"}
    assert cells == {"'" + n for n in nasty}
    sheet = openpyxl.load_workbook(r.to_xlsx(tmp_path / "x.xlsx"))["mono-channel"]
    values = [sheet.cell(i, 1) for i in range(2, 2 + len(nasty))]
    assert {c.value for c in values} == {"'" + n for n in nasty} and {c.data_type for c in values} == {"s"}
    assert all(isinstance(sheet.cell(i, 2).value, int | float) for i in range(2, 2 + len(nasty)))
    assert [neutralise(v) for v in ("\tx", "\rx", "a=b", -2)] == ["'\tx", "'\rx", "a=b", -2]


def test_cli_report(sim, tmp_path):
    runner = CliRunner()
    args = ["report", "path-length", "-w", str(sim.path), "--start", "2026-09-01", "--end", "2026-11-21"]
    res = runner.invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["report"] == "path-length" and data["query"]["end"] == "2026-11-21"
    assert sum(r["conversions"] for r in data["table"]) == data["totals"]["conversions"]
    res = runner.invoke(app, [*args, "--customers", "new", "--device", "mobile", "--format", "xlsx",
                              "--output", str(tmp_path / "p.xlsx")])
    assert res.exit_code == 0, res.output
    assert openpyxl.load_workbook(tmp_path / "p.xlsx")["query"]["A2"].value == "start"
    res = runner.invoke(app, [*args, "--device", "phone"])
    assert res.exit_code == 2 and "devices: unknown 'phone'" in res.output
    res = runner.invoke(app, ["report", "nope", "-w", str(sim.path)])
    assert res.exit_code == 2 and "unknown report" in res.output
    res = runner.invoke(app, ["report", "summary", "-w", str(sim.path), "--format", "csv"])
    assert res.exit_code == 0 and res.stdout.startswith("date,channel,conversions,revenue")
