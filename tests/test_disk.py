"""Issue 21: a full disk, a full temp directory and a workspace parcours may not write are each
said as such, in one line naming the path, and leave what was stored as it was.

The failures are DuckDB's own, at its real boundary: a spill beyond `max_temp_directory_size`
(what DuckDB reports when the temp directory's disk is full), the database on /dev/full (every
write: ENOSPC), paths under /sys (never writable, even for root, who ignores chmod). A last test
fills a small tmpfs, where the machine lets the tests mount one.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parcours.contract.config import WarehouseSettings
from parcours.engine.warehouse import Warehouse
from parcours.errors import DiskFull, OutOfMemory, ReadOnlyWorkspace
from parcours.faces.cli import app

SPILLS = "SELECT i, md5(i::varchar) AS a FROM range(3000000) r(i) ORDER BY a"  # 3M rows: beyond 64MB
linux_only = pytest.mark.skipif(not Path("/sys/kernel").is_dir() or not Path("/dev/full").exists(),
                                reason="needs Linux's /sys and /dev/full")


def stored(wh: Warehouse) -> list[int]:
    return [row[0] for row in wh._raw.execute("SELECT x FROM kept ORDER BY x").fetchall()]


def write_in_one_transaction(wh: Warehouse, *statements: str) -> None:
    """As a load or a build writes: in one transaction, its engine errors said."""
    with wh.engine_errors(), wh.transaction():
        for sql in statements:
            wh._raw.execute(sql).fetchone()


def test_a_full_temp_directory_is_said_full_not_out_of_memory_and_keeps_what_was_stored(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb", WarehouseSettings(memory_limit="64MB", threads=1, temp_directory="spill"))
    wh._raw.execute("CREATE TABLE kept AS SELECT * FROM range(3) t(x)")
    wh._raw.execute("SET max_temp_directory_size = '1MB'")  # what DuckDB sets from the disk's free space
    with pytest.raises(DiskFull) as exc:
        write_in_one_transaction(wh, "INSERT INTO kept VALUES (3)", SPILLS)
    said = str(exc.value)
    assert said.startswith(f"the temp directory DuckDB spills to ({tmp_path / 'spill'}) is full")
    assert "[warehouse] temp_directory" in said and "memory_limit" not in said and "\n" not in said
    assert not isinstance(exc.value, OutOfMemory)
    assert stored(wh) == [0, 1, 2]
    wh.close()


def test_running_out_of_memory_is_still_said_as_memory(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb", WarehouseSettings(memory_limit="20MB", threads=1))
    with pytest.raises(OutOfMemory, match=r"raise \[warehouse\] memory_limit"), wh.engine_errors():
        wh.con.sql("SELECT list(range) AS l FROM range(20000000)").execute()
    wh.close()


@linux_only
def test_a_full_disk_is_said_naming_the_file():
    with pytest.raises(DiskFull) as exc:
        Warehouse(Path("/dev/full"))
    assert str(exc.value).startswith("the disk holding /dev/full is full (No space left on device)")
    assert "\n" not in str(exc.value)


@linux_only
@pytest.mark.parametrize(("path", "named"), [
    ("/sys/parcours-test.duckdb", "/sys/parcours-test.duckdb"),  # the file cannot be made
    ("/sys/parcours-test/w.duckdb", "/sys/parcours-test"),  # nor its folder
])
def test_a_workspace_parcours_may_not_write_is_said_read_only(path, named):
    with pytest.raises(ReadOnlyWorkspace) as exc:
        Warehouse(Path(path))
    assert str(exc.value).startswith(f"{named} cannot be written (") and "\n" not in str(exc.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes whatever the permissions say")
def test_a_folder_without_write_permission_is_said_read_only(tmp_path):
    (tmp_path / "ws").mkdir(mode=0o555)
    with pytest.raises(ReadOnlyWorkspace, match=r"ws/w.duckdb cannot be written \(Permission denied\)"):
        Warehouse(tmp_path / "ws" / "w.duckdb")


@linux_only
def test_a_temp_directory_parcours_may_not_make_is_said_naming_it(tmp_path):
    settings = WarehouseSettings(memory_limit="64MB", threads=1, temp_directory="/sys/parcours-spill")
    wh = Warehouse(tmp_path / "w.duckdb", settings)
    with pytest.raises(ReadOnlyWorkspace) as exc, wh.engine_errors():
        wh._raw.execute(SPILLS).fetchone()
    assert str(exc.value).startswith("the temp directory DuckDB spills to (/sys/parcours-spill) cannot be written")
    wh.close()


@linux_only
@pytest.mark.parametrize(("path", "command", "said"), [
    ("/dev/full", "info", "error: the disk holding /dev/full is full (No space left on device)"),
    ("/dev/full", "build", "error: the disk holding /dev/full is full (No space left on device)"),
    ("/sys/parcours-test.duckdb", "ingest", "error: /sys/parcours-test.duckdb cannot be written (Permission denied)"),
])
def test_the_command_says_a_full_or_read_only_warehouse_in_one_line(tmp_path, path, command, said):
    (tmp_path / "parcours.toml").write_text(f'[warehouse]\npath = "{path}"\n')
    costs = tmp_path / "costs.csv"
    costs.write_text("date,channel,cost\n2026-01-01,display,10\n")
    args = ["ingest", "costs", str(costs)] if command == "ingest" else [command]
    res = CliRunner().invoke(app, [*args, "-w", str(tmp_path)])
    assert res.exit_code == 2 and res.output.startswith(said), res.output
    assert res.output.count("\n") == 1 and "Traceback" not in res.output


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs, where the machine lets the tests mount one (root in a container that may)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount") or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a small filesystem here")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_disk_that_fills_during_a_load_says_so_and_keeps_what_was_stored(small_disk):
    wh = Warehouse(small_disk / "w.duckdb")
    wh._raw.execute("CREATE TABLE kept AS SELECT * FROM range(3) t(x)")
    with pytest.raises(DiskFull) as exc:
        write_in_one_transaction(wh, "INSERT INTO kept VALUES (3)",
                                 "CREATE TABLE big AS SELECT md5(i::varchar) AS a FROM range(300000) r(i)")
    assert str(exc.value).startswith(f"the disk holding {small_disk / 'w.duckdb'}")
    assert "is full (No space left on device)" in str(exc.value)
    assert stored(wh) == [0, 1, 2] and not wh.has("big")
    wh.close()


@linux_only
def test_a_workspace_folder_parcours_may_not_make_is_said_in_one_line():
    """Files parcours writes itself (the config `init` writes, rejects, audiences.json) are said
    like the engine's: the command-line's OSError of a full or read-only disk is one line."""
    res = CliRunner().invoke(app, ["init", "-w", "/sys/parcours-test-ws"])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: /sys/parcours-test-ws cannot be written (Operation not permitted)")
    assert res.output.count("\n") == 1
