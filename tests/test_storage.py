"""The engine contract (parcours.engine.storage): both warehouses have every method the layers above
call, with the contract's parameters, as Ibis checks each backend against its base."""

import inspect

import pytest

from parcours.engine.engines import open_warehouse
from parcours.engine.storage import FileLoader, Storage
from parcours.engine.warehouse import Warehouse


def contract_methods(protocol) -> dict[str, inspect.Signature]:
    names = [n for n in dir(protocol) if not n.startswith("_") and callable(getattr(protocol, n))]
    return {n: inspect.signature(getattr(protocol, n)) for n in names}


def signature_problems(cls, protocol) -> list[str]:
    wrong = []
    for name, expected in contract_methods(protocol).items():
        if not hasattr(cls, name):
            wrong.append(f"{cls.__name__} lacks {name}")
            continue
        got = inspect.signature(getattr(cls, name))
        if list(got.parameters) != list(expected.parameters):
            wrong.append(f"{cls.__name__}.{name}{got} is not {name}{expected}")
    return wrong


def test_the_duckdb_warehouse_is_a_file_loader():
    assert signature_problems(Warehouse, FileLoader) == []


def test_the_spark_warehouse_satisfies_the_contract():
    spark = pytest.importorskip("parcours.engine.spark")
    assert signature_problems(spark.SparkWarehouse, Storage) == []


def test_the_check_finds_a_missing_or_different_method():
    class Partial:
        def table(self, name, extra): ...

    problems = signature_problems(Partial, Storage)
    assert "Partial lacks count" in problems
    assert any(p.startswith("Partial.table") for p in problems)


def test_open_warehouse_returns_the_contract(tmp_path):
    from parcours.contract.config import WarehouseSettings

    wh = open_warehouse(tmp_path, WarehouseSettings())
    try:
        assert isinstance(wh, Storage) and isinstance(wh, FileLoader)
    finally:
        wh.close()
