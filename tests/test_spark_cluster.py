"""On a standalone Spark cluster (a master and two workers started on the loopback from pyspark's
own distribution, as a user's cluster runs), `parcours build` gives the tables a DuckDB build
gives, and a worker killed in the middle of a build fails it with one line and commits nothing:
the next build, on the worker left, succeeds and gives the same tables.

The build runs as the user runs it, a `parcours` process (the cluster's driver); the test reads
the Parquet tables it commits without Spark, so this process starts no JVM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import pytest

from builders import AS_OF, SPARK, SPARK_TABLES, assert_same
from parcours import Workspace
from parcours.build.journeys import build_journeys
from parcours.engine.tablestore import ParquetStore
from parcours.load.ingest import load_file
from parcours.simulate import simulate

pytestmark = [pytest.mark.spark, pytest.mark.cluster]

BUILT = ("persons", "journeys", "touches")
# each executor as the local driver runs (tests/builders.SPARK); a few partitions for few rows
ON_CLUSTER = SPARK.replace('"spark.sql.codegen', '"spark.executor.extraJavaOptions=-XX:TieredStopAtLevel=1 '
                           '-XX:+UseSerialGC -XX:ReservedCodeCacheSize=256m", "spark.sql.codegen'
                           ) + "spark_partitions = 2\n"


@dataclass
class Cluster:
    url: str
    master: subprocess.Popen
    workers: list[subprocess.Popen]
    folder: Path

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.folder.glob("*.log")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    import pyspark

    home = Path(pyspark.__file__).parent
    folder = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1"}

    def start(cls: str, *args: str, log: str) -> subprocess.Popen:  # spark-class execs the JVM
        with open(folder / log, "w") as out:
            return subprocess.Popen([str(home / "bin" / "spark-class"), cls, *args], env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    master = start("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                   "--webui-port", "0", log="master.log")
    workers = [start("org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--webui-port", "0",
                     "--cores", "1", "--memory", "1g", "--work-dir", str(folder / f"work{n}"), url,
                     log=f"worker{n}.log") for n in (1, 2)]
    up = Cluster(url, master, workers, folder)
    try:
        deadline = time.monotonic() + 120
        while (folder / "master.log").read_text().count("Registering worker") < 2:
            assert time.monotonic() < deadline, f"the cluster did not start:\n{up.logs()}"
            assert master.poll() is None, f"the master stopped:\n{up.logs()}"
            time.sleep(0.5)
        yield up
    finally:
        for p in (*workers, master):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)  # the worker's executors with it
            p.wait()


@dataclass
class Run:
    """A `parcours` process, its output in files (a pipe nobody reads while it runs could fill)."""

    process: subprocess.Popen
    folder: Path

    def wait(self, timeout: float) -> tuple[int, str, str]:
        code = self.process.wait(timeout=timeout)
        return code, (self.folder / "out").read_text(), (self.folder / "err").read_text()


def _parcours(folder: Path, *args: str) -> Run:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "out", "w") as out, open(folder / "err", "w") as err:
        return Run(subprocess.Popen([sys.executable, "-m", "parcours.faces.cli", *args], env=env, text=True,
                                    stdout=out, stderr=err), folder)


def _parquet(ws: Path, table: str):
    """A table as Spark committed it, read without Spark (by Ibis on DuckDB, as the DuckDB
    workspace's tables are read; Spark writes instants as UTC, parcours reads them naive)."""
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    t = con.read_parquet(ParquetStore(ws / "tables").files(table))

    def naive(d: dt.DataType) -> dt.DataType:
        if d.is_array():
            return dt.Array(naive(d.value_type))
        return dt.Timestamp(scale=d.scale) if d.is_timestamp() else d

    return t.cast({c: naive(d) for c, d in t.schema().items()}).to_pandas()


def test_a_build_on_a_cluster_gives_duckdb_s_tables_and_a_lost_worker_commits_nothing(cluster, tmp_path):
    simulate(tmp_path / "data", persons=400, seed=5, days=60, end=AS_OF)
    duck, spark = Workspace.init(tmp_path / "duck"), Workspace.init(tmp_path / "spark")
    (spark.path / "parcours.toml").write_text(ON_CLUSTER.replace('"local[2]"', f'"{cluster.url}"'))
    spark.__dict__.pop("config", None)
    for ws in (duck, spark):
        for table in SPARK_TABLES:
            load_file(ws.warehouse, table, tmp_path / "data" / f"{table}.parquet")  # no Spark needed
    build_journeys(duck.warehouse, duck.config, as_of=AS_OF)
    spark.close()
    store = ParquetStore(spark.path / "tables")
    loaded = {name: store.files(name) for name in store.names()}

    build = _parcours(tmp_path / "first", "build", "-w", str(spark.path), "--as-of", str(AS_OF))
    deadline = time.monotonic() + 120  # its executors start on both workers, then it runs a while
    while not all(list((cluster.folder / f"work{n}").glob("app-*/*")) for n in (1, 2)):
        assert build.process.poll() is None and time.monotonic() < deadline, f"{build.wait(1)}\n{cluster.logs()}"
        time.sleep(0.2)
    time.sleep(4)
    os.killpg(cluster.workers[0].pid, signal.SIGKILL)
    code, out, err = build.wait(timeout=600)

    if code != 0:  # a lost executor's local checkpoints fail the job: said in one line
        assert "Traceback" not in err and "lost a worker" in err.strip().splitlines()[-1], err[-3000:]
        assert {name: store.files(name) for name in store.names()} == loaded  # nothing committed
        code, out, err = _parcours(tmp_path / "again", "build", "-w", str(spark.path), "--as-of",
                                   str(AS_OF)).wait(timeout=600)
        assert code == 0, err[-3000:]
    assert "built up to" in out
    for table in BUILT:
        assert_same(duck.warehouse.table(table).to_pandas(), _parquet(spark.path, table), table)
    duck.close()
