"""One writer, many readers (docs/architecture.md): while `parcours serve` holds a workspace,
`parcours ingest`, `build`, `info` and `report` in other processes work through it, requests
never fail during a load or a build, and the new build is served as soon as it commits."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from builders import AS_OF, SPARK, loaded_after, write_csv
from parcours import Workspace
from parcours.engine.tablestore import ParquetStore
from parcours.engine.workspace import SERVER_FILE
from parcours.faces.api import create_app, served
from parcours.faces.cli import app
from parcours.simulate import simulate

PARCOURS = [sys.executable, "-m", "parcours.faces.cli"]
runner = CliRunner()


def test_commands_ask_the_server_holding_the_workspace(shop, tmp_path):
    args = ["-w", str(shop.path)]
    alone = runner.invoke(app, ["report", "time-lag", "--format", "csv", *args]).stdout
    before = shop.warehouse.count("touchpoints")
    shop.close()  # the server opens it
    new = write_csv(tmp_path / "more.csv", [
        {"event_id": "n1", "ts": "2026-11-20 10:00:00", "visitor_id": "vz", "channel": "email"},
        {"event_id": "n2", "ts": "not a time", "visitor_id": "vz", "channel": "email"}])
    with served(shop.path) as url:
        said = json.loads((shop.path / SERVER_FILE).read_text())
        assert said["url"] == url and said["pid"] == os.getpid()
        assert oct((shop.path / SERVER_FILE).stat().st_mode & 0o777) == "0o600"
        res = runner.invoke(app, ["report", "time-lag", "--format", "csv", *args])
        assert res.exit_code == 0 and res.stdout == alone and f"asking it at {url}" in res.stderr
        res = runner.invoke(app, ["report", "time-lag", *args])
        assert res.exit_code == 0 and "Conversions" in res.stdout
        book = tmp_path / "lag.xlsx"
        res = runner.invoke(app, ["report", "time-lag", "--format", "xlsx", "--output", str(book), *args])
        assert res.exit_code == 0 and book.read_bytes()[:2] == b"PK"  # a zip: the workbook
        res = runner.invoke(app, ["report", "time-lag", "--format", "json", *args])
        assert res.exit_code == 0 and json.loads(res.stdout)["totals"]["conversions"] == 5
        res = runner.invoke(app, ["report", "time-lag", "--end", "not-a-day", *args])
        assert res.exit_code == 2 and "end" in res.stderr
        res = runner.invoke(app, ["ingest", "touchpoints", str(new), *args])
        assert res.exit_code == 1 and "1 loaded" in res.stdout and "row 2, field ts" in res.stdout
        res = runner.invoke(app, ["ingest", "touchpoints", str(tmp_path / "missing.csv"), *args])
        assert res.exit_code == 2 and "no such file" in res.stderr
        res = runner.invoke(app, ["build", "--as-of", AS_OF.isoformat(), *args])
        assert res.exit_code == 0 and "built up to 2026-11-21" in res.stdout
        res = runner.invoke(app, ["info", *args])
        assert res.exit_code == 0 and "built as of 2026-11-23" in res.stdout
        row = next(line for line in res.stdout.splitlines() if "touchpoints" in line)
        assert f" {before + 1:,} " in row
        again = write_csv(tmp_path / "again.csv", [{"event_id": "n3", "ts": "2026-11-20 11:00:00", "visitor_id": "vz"}])
        # the server has the engine (duckdb is imported, only to check the config's regexes as RE2 does)
        done = loaded_after([[*command, *args] for command in (
            ["build", "--as-of", AS_OF.isoformat()], ["info"], ["ingest", "touchpoints", str(again)])],
            ("ibis", "sklearn", "scipy", "pandas", "pyarrow"))
        assert done.returncode == 0 and done.stderr.count(f"asking it at {url}") == 3, done.stderr[-500:]
        assert done.stdout.splitlines()[-1] == "[]", done.stdout[-300:]
    assert not (shop.path / SERVER_FILE).exists()


def test_jobs_api_refuses_what_it_cannot_run(shop):
    shop.close()
    tokens = '[{ token = "wwwwwwwwwwwwwwwwwwww", scopes = ["write"] }]'
    (shop.path / "parcours.toml").write_text(f"[api]\ntokens = {tokens}\n")
    with TestClient(create_app(shop.path, "http://127.0.0.1"), base_url="http://127.0.0.1") as api:
        local = {"Authorization": "Bearer " + json.loads((shop.path / SERVER_FILE).read_text())["token"]}
        write = {"Authorization": "Bearer " + "w" * 20}
        for body, field in [({"command": "drop"}, "command"), ({"command": "build", "as_of": "soon"}, "as_of"),
                            ({"command": "build", "as_of": "9999-12-31"}, "as_of"),  # days not over (issue 28.8)
                            ({"command": "build", "as_of": "1999-01-01"}, "as_of"),
                            ({"command": "build", "as_of": "0001-01-01"}, "as_of"),
                            ({"command": "build", "when": 1}, "when"),
                            ({"command": "ingest", "loads": [{"table": "nope", "path": "/x"}]}, "loads[0]"),
                            ({"command": "ingest", "loads": [{"table": "costs", "path": "x.csv"}]}, "loads[0].path")]:
            res = api.post("/api/v1/jobs", json=body, headers=local)
            assert res.status_code == 400 and f"field {field}" in res.json()["error"], body
        assert api.post("/api/v1/jobs", json=[1], headers=local).status_code == 422
        assert api.post("/api/v1/jobs", json={"command": "build"}).status_code == 401
        res = api.post("/api/v1/jobs", json={"command": "ingest", "loads": [{"table": "costs", "path": "/x.csv"}]},
                       headers=write)
        assert res.status_code == 403 and "this machine" in res.json()["error"]
        assert api.get("/api/v1/jobs/99", headers=write).status_code == 404
        job = api.post("/api/v1/jobs", json={"command": "ingest", "loads": [{"table": "costs", "path": "/no.csv"}]},
                       headers=local).json()
        while job["status"] in ("queued", "running"):
            job = api.get(f"/api/v1/jobs/{job['id']}?wait=10", headers=write).json()
        assert job["status"] == "failed" and "no such file" in job["error"]
        for wait in ("-1", "10.5", "nan", "soon"):
            assert api.get(f"/api/v1/jobs/1?wait={wait}", headers=write).status_code == 422, wait
        job = api.post("/api/v1/jobs", json={"command": "build", "as_of": AS_OF.isoformat()}, headers=write).json()
        assert job["status"] == "queued" and job["command"] == "build"
        asked = 0
        while job["status"] in ("queued", "running"):  # each answer waits up to 10 s, and comes at the end
            job, asked = api.get(f"/api/v1/jobs/{job['id']}?wait=10", headers=write).json(), asked + 1
        assert job["status"] == "done" and job["result"]["touches"] > 0 and asked <= 2
        assert [j["id"] for j in api.get("/api/v1/jobs", headers=write).json()] == [1, 2]


def test_a_replaced_part_outlives_its_manifest_for_readers_still_on_it(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = ParquetStore(tmp_path / "store")

    def commit(replace: bool) -> Path:
        part = store.new_part("t", ".parquet")
        pq.write_table(pa.table({"x": [1]}), part)
        with store.writing():
            store.commit({"t": (replace, [part])})
        return part

    first = commit(True)
    second = commit(True)  # replaces the first: a reader may still be on it
    assert store.parts("t") == [second] and first.exists()
    monkeypatch.setattr("parcours.engine.tablestore.GRACE", 0.0)
    third = commit(False)
    assert store.parts("t") == [second, third] and not first.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*args: str, ws: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([*PARCOURS, *args, "-w", str(ws)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_serve_keeps_answering_while_other_processes_load_and_build(tmp_path, engine):
    data, ws = tmp_path / "data", tmp_path / "ws"
    simulate(data, persons=1500 if engine == "duckdb" else 300, seed=11, days=60, end=AS_OF)
    Workspace.init(ws).close()
    if engine == "spark":
        (ws / "parcours.toml").write_text(SPARK)
    with Workspace(ws) as first:  # before the server: loaded and built here, as another process would
        for table in ("touchpoints", "conversions"):
            first.load(table, data / f"{table}.parquet")
        first.build(as_of=AS_OF)
    port = _free_port()
    server = subprocess.Popen([*PARCOURS, "serve", "-w", str(ws), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    answers: list[tuple[float, str, int | str]] = []
    going = threading.Event()
    going.set()
    paths = ["/api/v1/reports/summary", "/api/v1/reports/time-lag", "/api/v1/meta", "/api/v1/info",
             "/api/v1/reports/top-paths?level=source", "/api/v1/reports/model-comparison?models=linear&models=markov"]

    def keep_asking(k: int) -> None:
        i = k
        while going.is_set():
            path = asked[i % len(asked)]
            i += 1
            try:
                with urllib.request.urlopen(base + path, timeout=120) as r:
                    answers.append((time.monotonic(), path, r.status))
            except urllib.error.HTTPError as exc:
                answers.append((time.monotonic(), path, f"{exc.code} {exc.read()[:300]!r}"))
            except (urllib.error.URLError, OSError) as exc:
                answers.append((time.monotonic(), path, str(exc)))
            time.sleep(pause)

    # the askers wait a little between questions: the build shares the two cores. A Spark server
    # answers one request at a time, each report a few Spark jobs: one asker, who asks the
    # lighter questions, is enough
    pause, asked = (0.5, paths[:4]) if engine == "spark" else (0.2, paths)

    try:
        for _ in range(600):  # the server up and answering (a Spark one starts its JVM first)
            try:
                urllib.request.urlopen(base + "/api/v1", timeout=5).close()
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        askers = [threading.Thread(target=keep_asking, args=(k,)) for k in range(3 if engine == "duckdb" else 1)]
        for t in askers:
            t.start()
        _run("ingest", "identities", str(data / "identities.parquet"), ws=ws)
        started = time.monotonic()
        built = _run("build", "--as-of", AS_OF.isoformat(), ws=ws).stdout
        ended = time.monotonic()
        if engine == "duckdb":  # through the server; a Spark workspace's readers are plain processes
            info = _run("info", ws=ws).stdout
            report = _run("report", "time-lag", "--format", "csv", ws=ws).stdout
        time.sleep(0.5)
        going.clear()
        for t in askers:
            t.join()
        failed = [a for a in answers if a[2] != 200]
        assert failed == [] and len(answers) > 10
        assert any(started < at < ended for at, _, _ in answers)  # answered during the build
        persons = int(built.split(": ")[1].split(" persons")[0].replace(",", ""))
        now = json.loads(urllib.request.urlopen(base + "/api/v1/info").read())
        assert now["persons"] == persons and now["tables"]["identities"][0] > 0  # served without a restart
        if engine == "duckdb":
            assert f"persons: {persons:,}" in info and report.startswith("bucket,conversions")
            assert (ws / SERVER_FILE).exists()
    finally:
        going.clear()
        server.terminate()
        server.wait(60)
    assert server.returncode in (0, -15), server.stderr.read()
    assert not (ws / SERVER_FILE).exists()


def test_a_report_reads_one_snapshot_while_a_build_commits(shop):
    from builders import load_rows
    from parcours.build.journeys import build_journeys

    wh = shop.warehouse
    reader = wh.reader()
    with reader.snapshot():
        before = reader.count("touches"), reader.table("build_meta").built_at.max().execute()
        load_rows(shop, "touchpoints", [{"event_id": "s1", "ts": "2026-11-20 10:00:00", "visitor_id": "A",
                                         "channel": "email"}])
        build_journeys(wh, shop.config, as_of=AS_OF)  # commits on the warehouse's own connection
        assert (reader.count("touches"), reader.table("build_meta").built_at.max().execute()) == before
    assert reader.table("build_meta").built_at.max().execute() > before[1]
    reader.close()


def test_a_stale_or_broken_server_file_is_ignored(ws, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    for text in ("{not json", '{"url": "http://127.0.0.1:9"}', json.dumps(
            {"url": "http://127.0.0.1:9", "pid": int(dead.stdout), "token": "t"})):
        (ws.path / SERVER_FILE).write_text(text)
        assert ws.server() is None, text  # a killed server's file names a dead pid
    res = runner.invoke(app, ["ingest", "touchpoints", str(write_csv(tmp_path / "t.csv", [
        {"event_id": "e1", "ts": "2026-11-20 10:00:00", "visitor_id": "v1"}])), "-w", str(ws.path)])
    assert res.exit_code == 0 and "asking it" not in res.stderr  # loaded directly
