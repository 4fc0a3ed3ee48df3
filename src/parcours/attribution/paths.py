"""Aggregated paths, the input of data-driven models: one row per distinct channel sequence.

`path` is the ordered list of values at the chosen level, with its conversions,
non-conversions (nulls) and conversion value. From the warehouse they are aggregated in the
engine, consecutive repeats collapsed (email > email > search is email > search) unless
asked otherwise; a path file or DataFrame in the same layout (ChannelAttribution's and GA's
path exports) is taken as written, each step a touch, unless asked to collapse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from numpy.typing import ArrayLike

from parcours import lazy
from parcours.contract.query import LEVELS
from parcours.errors import InvalidInput

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
    import pandas as pd

    from parcours.engine.storage import Storage
else:
    ibis = lazy.module("ibis")

# a column of paths: lists of steps, as Arrow (a list array), a pandas Series or plain lists
Paths: TypeAlias = "pa.Array | pa.ChunkedArray | pd.Series | Sequence[Sequence[str]]"
# aggregated paths as the models take them: an Arrow table (path: list of steps, conversions,
# nulls, value; what the functions below return), or the same columns as a DataFrame or an
# Ibis table
PathTable: TypeAlias = "pa.Table | pd.DataFrame | ir.Table"


def paths_from_warehouse(wh: Storage, level: str = "channel", collapse: bool = True,
                         split_level: str | None = None,
                         period: tuple[dt.datetime, dt.datetime] | None = None) -> pa.Table:
    """(path, conversions, nulls, value) over all journeys with at least one touch.

    The engine reduces the touches to distinct sequences; repeats are collapsed after, on
    those few rows. split_level (uncollapsed only): also group by the same touches' values
    at that level, in `split_path`, so credits fitted at `level` can be spread at another
    (the bootstrap). period [from, until): also `period_conversions`, those of the
    conversions in it (models are fitted on all, credits are reported for a period)."""
    for lv in (level, split_level or level):
        if lv not in LEVELS:
            raise InvalidInput(f"level must be one of {', '.join(LEVELS)}")
    if split_level and collapse:
        raise InvalidInput("split_level needs uncollapsed paths (one step per touch)")
    from parcours.build.journeys import require_built
    from parcours.contract.exprs import in_order

    require_built(wh)
    t = wh.table("touches")
    steps = {"path": in_order(t[level], t.position)}
    if split_level:
        steps["split_path"] = in_order(t[split_level], t.position)
    seq = t.group_by("journey_id").agg(**steps, converted=t.converted.any(), revenue=t.revenue.max(),
                                        end=t.end_ts.max())
    counts = {}
    if period is not None:
        inside = seq.converted & (seq.end >= ibis.timestamp(period[0])) & (seq.end < ibis.timestamp(period[1]))
        counts["period_conversions"] = inside.cast("int64").sum()
    out = seq.group_by(list(steps)).agg(
        conversions=seq.converted.cast("int64").sum(),
        nulls=(~seq.converted).cast("int64").sum(),
        value=ibis.ifelse(seq.converted, seq.revenue, 0.0).sum(),
        **counts,
    ).to_pyarrow()
    # in a fixed order (the engine's is not): a bootstrap's draws go to the same paths each run
    keys = pa.table({name: pc.binary_join(out[name].combine_chunks(), "\x1f") for name in steps})
    out = out.take(pc.sort_indices(keys, sort_keys=[(name, "ascending") for name in steps]))
    table = pa.table({name: out[name].combine_chunks() for name in (*steps, "conversions", "nulls", "value", *counts)})
    if not collapse:
        return table
    return _regroup(table.set_column(0, "path", collapse_repeats(table["path"])))


def _regroup(table: pa.Table) -> pa.Table:
    """Rows with the same path summed into one (paths that differed only by repeats)."""
    first, inverse = distinct(table["path"])
    sums = {c: np.bincount(inverse, counts(table, c), len(first)) for c in ("conversions", "nulls", "value")}
    return path_table(list_array(table["path"]).take(pa.array(first)), sums["conversions"], sums["nulls"],
                      sums["value"])


def path_table(paths: pa.ListArray, conversions: ArrayLike, nulls: ArrayLike, value: ArrayLike) -> pa.Table:
    """Aggregated paths as every function here returns them: counts whole (int64), value float64."""
    return pa.table({"path": paths, "conversions": np.asarray(conversions, float).round().astype(np.int64),
                     "nulls": np.asarray(nulls, float).round().astype(np.int64),
                     "value": np.asarray(value, float)})


def as_table(paths: PathTable) -> pa.Table:
    """Aggregated paths as an Arrow table, whichever form holds them (they are few: one row
    per distinct path, fitted in memory)."""
    if isinstance(paths, pa.Table):
        return paths
    to_pyarrow = getattr(paths, "to_pyarrow", None)  # an Ibis table
    return to_pyarrow() if to_pyarrow is not None else pa.Table.from_pandas(paths, preserve_index=False)


def counts(table: pa.Table, column: str) -> np.ndarray:
    """A numeric column of aggregated paths as floats."""
    return np.asarray(table[column], dtype=float)


def read_paths(file: Path | str, path: str = "path", conversions: str = "conversions",
               nulls: str | None = "nulls", value: str | None = None, sep: str = ">",
               delimiter: str = ",", collapse: bool = False) -> pa.Table:
    """Paths from an aggregated path file (ChannelAttribution's and GA's layout), read by
    Arrow's CSV reader: every step as written unless `collapse`. A bad file or column is a
    ValueError naming the column and the data rows."""
    named = [c for c in (path, conversions, nulls, value) if c]
    try:
        table = pacsv.read_csv(file, parse_options=pacsv.ParseOptions(delimiter=delimiter),
                               convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(named, pa.string())))
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise InvalidInput(f"not a readable CSV file: {str(exc).splitlines()[0]}") from None
    if table.num_rows == 0:
        raise InvalidInput("no path to attribute: the file has a header and no rows")
    return paths_from_arrow(table, path, conversions, nulls, value, sep, collapse)


def paths_from_frame(df: pd.DataFrame, path: str = "path", conversions: str = "conversions",
                     nulls: str | None = "nulls", value: str | None = None,
                     sep: str = ">", collapse: bool = False) -> pa.Table:
    """Paths from a DataFrame of strings like "email > search" (ChannelAttribution layout)."""
    named = [c for c in (path, conversions, nulls, value) if c and c in df.columns]
    return paths_from_arrow(pa.Table.from_pandas(df[named], preserve_index=False),
                            path, conversions, nulls, value, sep, collapse)


def paths_from_arrow(table: pa.Table, path: str, conversions: str, nulls: str | None, value: str | None,
                     sep: str, collapse: bool) -> pa.Table:
    """Paths split by Arrow kernels (no Python loop over rows): each step as written, or
    with consecutive repeats collapsed (email > email > search is email > search)."""
    missing = [c for c in (path, conversions, nulls, value) if c and c not in table.column_names]
    if missing:
        raise InvalidInput(f"missing column(s): {', '.join(missing)}")
    text = pc.cast(table[path], pa.string()).combine_chunks().fill_null("")
    parts = pc.split_pattern(text, sep)
    flat = pc.utf8_trim_whitespace(parts.flatten())
    kept = pc.not_equal(pc.utf8_length(flat), 0)
    lens = np.bincount(pc.list_parent_indices(parts).filter(kept).to_numpy(), minlength=len(text))
    if (lens == 0).any():
        raise InvalidInput(f"column {path!r}: empty path on data row(s) {_rows(lens == 0)}")
    lists = pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(lens)]), pa.int32()),
                                     flat.filter(kept))
    rows = len(text)
    return path_table(collapse_repeats(lists) if collapse else lists,
                      _numbers(table[conversions], conversions, count=True),
                      _numbers(table[nulls], nulls, count=True) if nulls else np.zeros(rows),
                      _numbers(table[value], value, count=False) if value else np.zeros(rows))


_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _numbers(column: pa.ChunkedArray | pa.Array, name: str, count: bool) -> np.ndarray:
    """A numeric column as floats, empty cells 0: counts whole and >= 0, values finite."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.utf8_trim_whitespace(arr)
        blank = pc.fill_null(pc.equal(pc.utf8_length(arr), 0), True)
        bad = pc.and_(pc.invert(blank), pc.invert(pc.match_substring_regex(arr, _NUMBER)))
        if pc.any(bad).as_py():
            raise InvalidInput(f"column {name!r}: not a number on data row(s) {_rows(bad)}")
        arr = pc.if_else(blank, "0", arr)
    numbers = pc.cast(arr, pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
    if count:
        wrong, what = (~np.isfinite(numbers)) | (numbers < 0) | (numbers != np.floor(numbers)), "not a whole count"
    else:
        wrong, what = ~np.isfinite(numbers), "not a finite number"
    if wrong.any():
        raise InvalidInput(f"column {name!r}: {what} on data row(s) {_rows(wrong)}")
    return numbers


def _rows(mask: ArrayLike) -> str:
    """The first data rows (1-based) where `mask` holds, for an error message."""
    at = np.flatnonzero(np.asarray(mask, dtype=bool))
    return ", ".join(str(i + 1) for i in at[:10]) + (f" and {len(at) - 10:,} more" if len(at) > 10 else "")


def list_array(paths: Paths) -> pa.ListArray:
    """A column of paths (lists, arrays, or an Arrow-backed Series) as one Arrow list array."""
    arr = paths if isinstance(paths, pa.Array | pa.ChunkedArray) else pa.array(paths)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def flatten(paths: Paths) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every step of every path: (path index, value code, values), codes index the values."""
    arr = list_array(paths)
    encoded = arr.flatten().dictionary_encode()
    return (pc.list_parent_indices(arr).to_numpy(), encoded.indices.to_numpy().astype(np.int64),
            encoded.dictionary.to_numpy(zero_copy_only=False))


def positions(pid: np.ndarray, paths: int) -> tuple[np.ndarray, np.ndarray]:
    """Each path's length, and each step's 1-based position in its path (`pid` as `flatten`
    gives it: steps in path order)."""
    lens = np.bincount(pid, minlength=paths)
    return lens, np.arange(len(pid)) - np.repeat(np.cumsum(lens) - lens, lens) + 1


def collapse_repeats(paths: Paths) -> pa.ListArray:
    """email > email > search is email > search, on a whole column at once."""
    arr = list_array(paths)
    pid, flat = pc.list_parent_indices(arr).to_numpy(), arr.flatten()
    keep = np.ones(len(flat), dtype=bool)
    if len(flat) > 1:
        same = pc.equal(flat.slice(1), flat.slice(0, len(flat) - 1)).to_numpy(zero_copy_only=False)
        keep[1:] = (pid[1:] != pid[:-1]) | ~same
    lens = np.bincount(pid[keep], minlength=len(arr))
    return pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(lens)]), pa.int32()),
                                    flat.filter(pa.array(keep)))


def shares(group: np.ndarray, weight: np.ndarray, even: np.ndarray) -> np.ndarray:
    """Each item's share of its group (a journey's or a path's steps): its weight over the
    group's, or `even` (its share when weights do not tell) when the group's weights sum to 0:
    credit.py's per-touch rule, in NumPy."""
    total = np.bincount(group, weight)[group]
    return np.where(total > 0, weight / np.where(total > 0, total, 1.0), even)


def numbered(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each key's number among the distinct keys (0, 1, ... in the keys' order), and those keys."""
    distinct_keys, number = np.unique(keys, return_inverse=True)
    return number.astype(np.int64), distinct_keys


def distinct(paths: Paths) -> tuple[np.ndarray, np.ndarray]:
    """The distinct paths of a column: each one's first row, and each row's distinct path."""
    keys = pc.binary_join(list_array(paths), "\x1f").to_numpy(zero_copy_only=False)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse
