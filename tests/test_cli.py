"""The `parcours` command end to end, in-process through Typer's runner, on real files."""

import pytest
from typer.testing import CliRunner

from parcours.faces.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    res = run("simulate", "--persons", 500, "--seed", 1, "--out", root / "data", "--end", "2026-11-23")
    assert res.exit_code == 0, res.output
    for table in ("touchpoints", "conversions", "identities", "costs", "truth"):
        res = run("ingest", table, root / "data" / f"{table}.parquet", "-w", root / "ws")
        assert res.exit_code == 0, res.output
        assert " rejected" in res.output
    res = run("build", "-w", root / "ws", "--as-of", "2026-11-23")
    assert res.exit_code == 0, res.output
    return root, res.output


def test_build_says_what_it_built_and_where_it_cut(built):
    _, output = built
    assert "built up to 2026-11-21 (D-2 of 2026-11-23)" in output and "converting" in output


def test_build_in_passes_under_a_small_memory_limit_gives_the_same_journeys(built, tmp_path, monkeypatch):
    """Under a memory limit too small for the journey summary in one go, the build runs it
    in passes (the progress bar counts them) and gives the same journeys. The per-touch
    need is raised so that a 2,000-touch workspace needs passes under a limit DuckDB runs in."""
    import shutil

    from parcours import Workspace
    from parcours.build import journeys
    monkeypatch.setattr(journeys, "LIST_BYTES_PER_TOUCH", 50_000)
    root, output = built
    ws = tmp_path / "small"
    shutil.copytree(root / "ws", ws)
    (ws / "parcours.toml").write_text('[warehouse]\nmemory_limit = "64MB"\n')
    with Workspace(ws) as w:
        assert w.warehouse.passes(w.warehouse.count("touches"), journeys.LIST_BYTES_PER_TOUCH) > 1
    res = run("build", "-w", ws, "--as-of", "2026-11-23", "--full")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[-1] == output.splitlines()[-1]
    with Workspace(root / "ws") as a, Workspace(ws) as b:
        one = a.warehouse.table("journeys").order_by("journey_id").to_pyarrow()
        assert b.warehouse.table("journeys").order_by("journey_id").to_pyarrow().equals(one)


def test_info_reports_counts_channels_persons_and_stitching(built):
    root, _ = built
    res = run("info", "-w", root / "ws")
    assert res.exit_code == 0
    for text in ("touchpoints", "journeys", "stitched share", "channels: ", "paid_search",
                 "conversions before 2026-11-22", "one row per visitor or user id"):
        assert text in res.output


def test_ingest_exits_1_on_rejects_unless_allowed(tmp_path):
    bad = tmp_path / "tp.csv"
    bad.write_text("event_id,ts,visitor_id\ne1,2026-10-01,v1\ne2,never,v2\n")
    res = run("ingest", "touchpoints", bad, "-w", tmp_path / "ws")
    assert res.exit_code == 1
    assert "row 2, field ts: not a valid timestamp (value 'never')" in res.output
    assert "the valid rows are loaded" in res.output and "partial load" not in res.output  # says what happened
    assert (tmp_path / "ws" / "rejects" / "tp.csv.rejects.csv").exists()
    res = run("ingest", "touchpoints", bad, "-w", tmp_path / "ws", "--allow-rejects")
    assert res.exit_code == 0 and "0 loaded, 1 already loaded, 1 rejected" in res.output


def test_what_a_file_holds_is_printed_as_written_never_read_as_markup(tmp_path):
    """A value or a file name that looks like the terminal's markup (`[/]`, `[bold]`) is
    printed as it is: no traceback, no text lost (issue 28's class of items 17 and 18)."""
    bad = tmp_path / "tp[x].csv"
    bad.write_text("event_id,ts,visitor_id,channel\ne1,2026-10-01,v1,[bold]display[/]\ne2,[/],v2,x\n")
    res = run("ingest", "touchpoints", bad, "-w", tmp_path / "ws")
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "tp[x].csv: 2 rows read, 1 loaded" in res.output
    assert "row 2, field ts: not a valid timestamp (value '[/]')" in res.output


def test_ingest_of_a_file_missing_a_column_exits_2_with_the_reason(tmp_path):
    bad = tmp_path / "tp.csv"
    bad.write_text("event_id,visitor_id\ne1,v1\n")
    res = run("ingest", "touchpoints", bad, "-w", tmp_path / "ws")
    assert res.exit_code == 2 and "missing required column(s): ts" in res.output


@pytest.mark.parametrize("horizon", [10, 11])
def test_simulate_with_a_horizon_not_below_the_days_names_the_option_and_writes_nothing(tmp_path, horizon):
    res = run("simulate", "--persons", 50, "--days", 10, "--horizon", horizon, "--out", tmp_path / "data")
    assert res.exit_code == 2 and "--horizon" in res.output and "10 days simulated" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "data").exists()


def test_simulate_can_load_what_it_writes_into_a_workspace(tmp_path):
    """`--load-into`: every table the simulator writes is loaded as `parcours ingest` loads it
    (loading a file again adds nothing), in one process."""
    import pyarrow.parquet as pq

    from parcours import Workspace
    from parcours.contract.schema import TABLES

    res = run("simulate", "--persons", 120, "--seed", 3, "--days", 20, "--out", tmp_path / "data",
              "--load-into", tmp_path / "ws")
    assert res.exit_code == 0, res.output
    written = [t for t in TABLES if (tmp_path / "data" / f"{t}.parquet").exists()]
    assert {"touchpoints", "conversions", "crm", "messages"} <= set(written)
    with Workspace(tmp_path / "ws") as ws:
        for table in written:
            rows = pq.read_metadata(tmp_path / "data" / f"{table}.parquet").num_rows
            assert f"{table}.parquet: {rows:,} rows read" in res.output
            assert ws.warehouse.count(table) == rows, table
    res = run("ingest", "touchpoints", tmp_path / "data" / "touchpoints.parquet", "-w", tmp_path / "ws")
    assert res.exit_code == 0 and " 0 loaded, " in res.output


def test_build_without_data_says_so(tmp_path):
    res = run("build", "-w", tmp_path)
    assert res.exit_code == 2 and "no warehouse" in res.output


def test_help_explains_each_command_and_option():
    res = run("--help")
    for cmd in ("simulate", "ingest", "build", "info", "init"):
        assert cmd in res.output
    res = run("ingest", "--help")
    assert "--allow-rejects" in res.output and "rejected" in res.output


def test_each_file_gets_its_own_rejects_file(tmp_path):
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text(f"event_id,ts,visitor_id\n{name},never,v1\n")
    res = run("ingest", "touchpoints", tmp_path / "a.csv", tmp_path / "b.csv", "-w", tmp_path / "ws",
              "--rejects-dir", tmp_path / "bad")
    assert res.exit_code == 1
    assert sorted(p.name for p in (tmp_path / "bad").iterdir()) == ["a.csv.rejects.csv", "b.csv.rejects.csv"]


def test_attribute_a_path_file_in_the_channelattribution_layout(tmp_path):
    paths = tmp_path / "paths.csv"
    paths.write_text("path;total_conversions;total_null;value\na > b;1;0;30\na;0;1;0\nb;1;0;10\n")
    res = run("attribute", "--paths", paths, "--delimiter", ";", "--nulls-column", "total_null",
              "--value-column", "value", "--model", "markov", "--format", "csv")
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0] == "channel,conversions,value,removal_effect"
    assert [line.split(",")[0] for line in lines[1:]] == ["b", "a"]
    assert [round(float(line.split(",")[1]), 6) for line in lines[1:]] == [1.333333, 0.666667]
    for model in ("time_decay", "counterfactual"):
        res = run("attribute", "--paths", paths, "--delimiter", ";", "--model", model)
        assert res.exit_code == 2 and f"{model} needs touch times" in res.output
    paths.write_text("path;total_conversions\na > b;1\n > ;2\n")
    res = run("attribute", "--paths", paths, "--delimiter", ";", "--model", "linear")
    assert res.exit_code == 2 and "paths.csv" in res.output and "empty path on data row(s) 2" in res.output


def test_attribute_on_the_warehouse_totals_the_conversions(built):
    import json
    root, _ = built
    for model in ("last_touch", "position_based", "markov", "shapley", "ordered_shapley"):
        res = run("attribute", "-w", root / "ws", "--model", model, "--format", "json", "--start", "2000-01-01")
        assert res.exit_code == 0, res.output
        rows = json.loads(res.stdout)
        assert abs(sum(r["conversions"] for r in rows) - rows_converting(root)) < 1e-6


def test_attribute_takes_the_reports_default_period_and_says_it(built):
    """The same conversions as the reports: the 30 days up to the last one, cut at D-2."""
    import json
    root, _ = built
    res = run("attribute", "-w", root / "ws", "--model", "linear", "--format", "json")
    assert res.exit_code == 0, res.output
    report = json.loads(run("report", "model-comparison", "-w", root / "ws", "--format", "json").stdout)
    period = f"conversions from {report['query']['start']} to {report['query']['end']}"
    assert period in res.stderr
    attributed = sum(r["conversions"] for r in json.loads(res.stdout))
    assert attributed == pytest.approx(report["totals"]["conversions"]) and attributed < rows_converting(root)


def test_attribute_at_any_level_keeps_the_channel_fit(built):
    import json
    root, _ = built
    res = run("attribute", "-w", root / "ws", "--model", "markov", "--level", "device", "--ci", "0.9",
              "--samples", "20", "--format", "json", "--start", "2000-01-01")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {"device", "conversions", "lo", "hi"} <= set(rows[0])
    assert abs(sum(r["conversions"] for r in rows) - rows_converting(root)) < 1e-6
    assert sum(r["lo"] <= r["conversions"] <= r["hi"] for r in rows if r["device"] != "(no touch)") >= 2


@pytest.mark.parametrize("model", ["markov", "counterfactual"])
def test_intervals_are_of_the_period_printed(built, model):
    """The credits printed are the period's (30 days by default): so are their intervals,
    though each resample refits the model on every journey."""
    import json
    root, _ = built
    res = run("attribute", "-w", root / "ws", "--model", model, "--ci", "0.9", "--samples", "30", "--format", "json")
    assert res.exit_code == 0, res.output
    rows = [r for r in json.loads(res.stdout) if r["channel"] != "(no touch)"]
    period = sum(r["conversions"] for r in rows)
    assert period < rows_converting(root) - 5  # a period shorter than the data
    # (intervals of every built conversion, 26 here against the period's 9, fail this)
    assert sum(r["lo"] for r in rows) <= period <= sum(r["hi"] for r in rows)
    assert sum(r["lo"] <= r["conversions"] <= r["hi"] for r in rows) >= len(rows) - 2


def rows_converting(root):
    from parcours import Workspace
    with Workspace(root / "ws") as ws:
        j = ws.warehouse.table("journeys")
        return int(j.converted.sum().execute())


def test_attribute_asks_for_a_build_first(tmp_path):
    (tmp_path / "tp.csv").write_text("event_id,ts,visitor_id\ne1,2026-10-01,v1\n")
    run("ingest", "touchpoints", tmp_path / "tp.csv", "-w", tmp_path / "ws")
    res = run("attribute", "-w", tmp_path / "ws", "--model", "linear")
    assert res.exit_code == 2 and "run `parcours build`" in res.output


def test_evaluate_scores_every_model_against_the_truth(built):
    import io

    import pandas as pd
    root, _ = built
    res = run("evaluate", "-w", root / "ws", "--truth", root / "data" / "truth.parquet", "--format", "csv")
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0] == "model,nmae,ci_coverage"
    models = {line.split(",")[0] for line in lines[1:]}
    assert {"last_touch", "linear", "markov", "markov_order2", "shapley", "time_decay", "counterfactual",
            "counterfactual (incremental)"} <= models
    assert all(0 <= float(line.split(",")[1]) <= 2 for line in lines[1:])
    # the truth loaded into the workspace is the same truth; the same scores, to the last digits
    # sums in another order may change, intervals included (their resamples are seeded)
    loaded = run("evaluate", "-w", root / "ws", "--format", "csv")
    assert loaded.exit_code == 0, loaded.output
    again, first = (pd.read_csv(io.StringIO(r.output)).set_index("model").sort_index() for r in (loaded, res))
    pd.testing.assert_frame_equal(again, first, rtol=1e-12)
    both = run("evaluate", "-w", root / "ws", "--truth", root / "data" / "truth.parquet", "--scenario", "additive")
    assert both.exit_code == 2 and "give --truth or --scenario, not both" in both.output


def test_evaluate_says_which_model_it_is_scoring(built):
    import pandas as pd

    from parcours import Workspace
    from parcours.attribution.catalogue import make_model
    from parcours.attribution.evaluate import evaluate

    root, _ = built
    heard = []
    with Workspace(root / "ws") as ws:
        evaluate(ws.warehouse, pd.read_parquet(root / "data" / "truth.parquet"),
                 {"linear": make_model("linear"), "markov": make_model("markov")}, samples=10,
                 progress=lambda *step: heard.append(step))
    assert heard == [(0, 2, "linear"), (1, 2, "markov"), (2, 2, "")]


def test_attribute_with_intervals_on_a_path_file(tmp_path):
    paths = tmp_path / "paths.csv"
    paths.write_text("path,total_conversions,total_null\na > b,10,5\na,3,20\nb,8,4\n")
    res = run("attribute", "--paths", paths, "--nulls-column", "total_null", "--model", "shapley",
              "--ci", "0.9", "--samples", "30", "--format", "json")
    assert res.exit_code == 0, res.output
    import json
    for row in json.loads(res.output):
        assert row["lo"] <= row["conversions"] <= row["hi"]
    res = run("attribute", "--paths", paths, "--model", "linear", "--ci", "0.9")
    assert res.exit_code == 2 and "--ci is for the data-driven models" in res.output


def test_a_report_table_reads_at_100_columns(built, monkeypatch):
    """Labelled columns and named values as on the page, one measure per model (what a page
    shows when not told), no line past 100 columns, the columns that do not fit named."""
    from parcours.faces import cli

    root, _ = built
    monkeypatch.setattr(cli.out, "_width", 100)
    res = run("report", "model-comparison", "-w", root / "ws")
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines() if not line.startswith("warning: ")]
    assert lines[0].startswith("model-comparison: 2026-") and " to 2026-" in lines[0]
    assert max(map(len, lines[:-2])) <= 100
    assert "Channel" in res.output and "Paid search" in res.output and "paid_search" not in res.output
    assert "more column(s) wider than the terminal: " in res.output and "Shapley value: conversions" in res.output
    assert lines[-1].startswith("Conversions ") and " EUR · " in lines[-1]
    wide = run("report", "model-comparison", "-w", root / "ws", "--format", "csv")
    assert "linear_roas" in wide.output  # a file has every measure


@pytest.mark.parametrize("said", [
    '{"url": 5, "pid": 1, "token": "t"}', '{"url": "http://x", "pid": "1", "token": "t"}',
    '{"url": "http://x", "pid": -1, "token": "t"}', '{"url": "ftp://x", "pid": 1, "token": 2}',
    '{"url": "http://x", "pid": 99999999999, "token": "t"}', "not json", "[]"])
def test_a_damaged_server_file_names_no_server(tmp_path, said):
    """`.parcours-server.json` is read by every command: a damaged one is no live server, never a
    traceback (the next `parcours serve` writes it anew)."""
    from parcours import Workspace
    from parcours.engine.workspace import SERVER_FILE

    ws = Workspace.init(tmp_path / "ws")
    (ws.path / SERVER_FILE).write_text(said)
    assert ws.server() is None
    res = run("info", "-w", ws.path)
    assert "Traceback" not in res.output and res.exit_code in (0, 2), res.output


def test_the_report_list_says_today_included_only_of_reports_counting_up_to_now():
    """Issue 28.9: the list said the propensity report includes today; its cut is D-2."""
    import json

    res = run("reports", "--format", "json")
    assert res.exit_code == 0, res.output
    said = {r["report"]: r["today included"] for r in json.loads(res.output)}
    assert {name for name, today in said.items() if today} == {"summary", "messaging"}
    assert said["propensity"] is False


@pytest.mark.parametrize("args", [["build", "--as-of", ""], ["simulate", "--end", "", "--persons", "10"]])
def test_an_empty_day_is_refused_not_taken_for_today(tmp_path, args):
    """The API refused `"as_of": ""`; the command built as of today (a variant of issue 28.8)."""
    res = run(*args, *(["-w", tmp_path / "ws"] if args[0] == "build" else ["--out", tmp_path / "d"]))
    assert res.exit_code == 2 and "'' is not a date (YYYY-MM-DD)" in res.output, res.output
