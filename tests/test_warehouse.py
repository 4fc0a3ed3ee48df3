import signal
import subprocess
import sys
import time

import duckdb
import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from builders import load_rows
from parcours import Workspace
from parcours.engine.warehouse import Warehouse


def test_pinned_engine_versions_create_replace_and_list_tables(tmp_path):
    # ibis 12 with sqlglot >= 28 fails on `DROP VIEW IF EXISTS` after a create from a
    # DataFrame, and with duckdb 2.0 on fetch_arrow_table: both paths are exercised here.
    wh = Warehouse(tmp_path / "w.duckdb")
    for n in (1, 2):
        wh.con.create_table("t", pd.DataFrame({"a": range(n)}), overwrite=True)
    assert wh.con.list_tables() == ["t"] and wh.count("t") == 2
    wh.close()


def test_a_failed_transaction_leaves_the_tables_as_they_were(ws):
    load_rows(ws, "touchpoints", [dict(event_id="e1", ts="2026-10-01", visitor_id="v1")])
    wh = ws.warehouse
    with pytest.raises(RuntimeError), wh.transaction():  # noqa: PT012 (a write killed inside its transaction)
        wh.con.raw_sql("DELETE FROM touchpoints")
        wh.insert("touchpoints", wh.table("touchpoints").limit(0))
        raise RuntimeError("boom")
    assert wh.count("touchpoints") == 1


def _files_state(ws_dir):
    return tuple((p.name, p.stat().st_size) for p in sorted(ws_dir.glob("parcours.duckdb*")))


def _touchpoints_loading_for_seconds(folder):
    """A touchpoints file whose load writes for some seconds (about 150,000 rows), for the kills
    to land inside it: 3,000 simulated persons' touchpoints five times over, each copy's event
    ids its own (simulating 15,000 persons would take five times as long and prove nothing more)."""
    from parcours.simulate import simulate
    one = pq.read_table(simulate(folder / "sim", persons=3_000, seed=1).files["touchpoints"])
    at = one.schema.get_field_index("event_id")
    big = pa.concat_tables([one.set_column(at, "event_id", pc.binary_join_element_wise(one["event_id"], f"~{k}", ""))
                            for k in range(5)])
    assert pc.count_distinct(big["event_id"]).as_py() == big.num_rows
    pq.write_table(big, folder / "touchpoints.parquet")
    return {"touchpoints": folder / "touchpoints.parquet"}


def test_a_killed_load_leaves_the_warehouse_as_it_was(tmp_path):
    files = _touchpoints_loading_for_seconds(tmp_path)
    small = tmp_path / "small.parquet"
    pq.write_table(pq.read_table(files["touchpoints"]).slice(0, 1000), small)
    ws_dir = tmp_path / "ws"
    cmd = [sys.executable, "-m", "parcours.faces.cli"]
    subprocess.run([*cmd, "ingest", "touchpoints", str(small), "-w", str(ws_dir)], check=True,
                   capture_output=True)
    total = pq.read_metadata(files["touchpoints"]).num_rows
    outcomes = []
    # Kill at several moments after the load has started writing (the warehouse files change).
    for delay in (0.0, 0.5, 1.5, 2.5, 3.5, 4.5, 6.0, 9.0):
        before = _files_state(ws_dir)
        proc = subprocess.Popen([*cmd, "ingest", "touchpoints", str(files["touchpoints"]),
                                 "-w", str(ws_dir)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while _files_state(ws_dir) == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Workspace(ws_dir) as ws:
            n = ws.warehouse.count("touchpoints")
        assert n in (1000, total), f"partial load after a kill {delay}s into it: {n} rows"
        outcomes.append(n)
        if n == total:
            break
    assert outcomes[0] == 1000, "the first kill came after the commit; the test proved nothing"
    # and the interrupted file loads whole afterwards, once
    subprocess.run([*cmd, "ingest", "touchpoints", str(files["touchpoints"]), "-w", str(ws_dir)],
                   check=True, capture_output=True)
    with Workspace(ws_dir) as ws:
        assert ws.warehouse.count("touchpoints") == total
        assert not [t for t in ws.warehouse.tables() if t.startswith("_stage_")]  # the kills' leftovers went


def test_a_warehouse_held_by_another_process_gives_a_clear_error(tmp_path):
    from parcours.errors import WarehouseBusy
    path = tmp_path / "w.duckdb"
    Warehouse(path).close()
    holder = subprocess.Popen([sys.executable, "-c",
                               f"import duckdb, time; c = duckdb.connect({str(path)!r}); "
                               "print('ready', flush=True); time.sleep(30)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseBusy, match="in use by another parcours process"):
            Warehouse(path)
    finally:
        holder.kill()
        holder.wait()


def test_running_out_of_memory_says_which_setting_to_change(tmp_path):
    from parcours.contract.config import WarehouseSettings
    from parcours.errors import OutOfMemory
    wh = Warehouse(tmp_path / "w.duckdb", WarehouseSettings(memory_limit="20MB", threads=1))
    big = wh.con.sql("SELECT list(range) AS l FROM range(20000000)")
    with pytest.raises(OutOfMemory, match=r"memory_limit 19.0 MiB.*raise \[warehouse\] memory_limit"), \
            wh.engine_errors():
        big.execute()
    wh.close()


def test_passes_keep_a_step_within_half_the_memory_limit(tmp_path):
    from parcours.contract.config import WarehouseSettings
    wh = Warehouse(tmp_path / "w.duckdb", WarehouseSettings(memory_limit="100MB"))
    # DuckDB says "95.3 MiB" = 99,929,292 bytes; half is 49,964,646; 800 MB / that = 16.01
    assert wh.passes(1_000_000, 800) == 17
    assert wh.passes(10_000, 800) == 1
    assert wh.passes(0, 800) == 1
    wh.close()


def test_the_data_version_changes_when_data_lands_or_a_build_finishes(ws):
    """What the API checks its kept answers against (a load that adds nothing keeps it)."""
    from builders import AS_OF, build_shop
    from parcours.build.journeys import build_journeys
    from parcours.contract import schema

    before = ws.warehouse.data_version()
    assert ws.warehouse.data_version() == before
    build_shop(ws)
    loaded = ws.warehouse.data_version()
    assert loaded != before
    counted = (*schema.TABLES, *schema.REFRESHED)  # each table's count in its place
    assert loaded[:len(counted)] == tuple(ws.warehouse.count(t) for t in counted) and loaded[0] == 10
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    assert ws.warehouse.data_version() != loaded


def test_the_staging_tables_of_a_killed_load_go_at_the_next_open(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.con.raw_sql('CREATE TABLE "_stage_0123456789ab" AS SELECT 1 AS _row')
    wh.con.raw_sql('CREATE TABLE "_stage_0123456789ab_bad" AS SELECT 1 AS _row')
    wh.con.raw_sql('CREATE TABLE "kept" AS SELECT 1 AS x')
    wh.close()
    wh = Warehouse(tmp_path / "w.duckdb")
    assert wh.tables() == ["kept"]
    wh.close()


def test_a_replace_that_fails_outside_a_transaction_leaves_the_table_as_it_was(tmp_path):
    """A replace is one change: a reader never sees the table between its create and its rows
    (a server's report once read an empty build_meta while a build marked it followed)."""
    wh = Warehouse(tmp_path / "w.duckdb")
    wh._raw.execute("CREATE TABLE r AS SELECT range AS i FROM range(3)")
    bad = ibis.memtable({"i": ["1", "x"]}).mutate(i=ibis._.i.cast("int64"))  # fails on its second row
    with pytest.raises(duckdb.ConversionException):
        wh.replace("r", bad)
    assert sorted(wh.table("r").i.execute()) == [0, 1, 2]
    assert sorted(wh.replace("r", bad.limit(1)).i.execute()) == [1]
    wh.close()


def test_a_table_replaced_by_a_query_of_itself_keeps_its_rows(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh._raw.execute("CREATE TABLE r AS SELECT range AS i FROM range(3)")
    t = wh.table("r")
    got = wh.replace("r", t.mutate(i=t.i + 10))
    assert sorted(got.i.execute()) == [10, 11, 12]
    wh.close()
