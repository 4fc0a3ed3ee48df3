"""Aggregated paths, the input of data-driven models: one row per distinct channel sequence.

`path` is the ordered list of values at the chosen level (consecutive repeats collapsed:
email > email > search is email > search), with its conversions, non-conversions (nulls) and
conversion value. From the warehouse they are aggregated in the engine; a plain DataFrame in
the same layout (ChannelAttribution's and GA's path exports) works too.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from parcours.exprs import in_order
from parcours.journeys import require_built
from parcours.query import LEVELS
from parcours.storage import Storage


def paths_from_warehouse(wh: Storage, level: str = "channel", collapse: bool = True,
                         split_level: str | None = None) -> pd.DataFrame:
    """(path, conversions, nulls, value) over all journeys with at least one touch.

    The engine reduces the touches to distinct sequences; repeats are collapsed after, on
    those few rows. split_level (uncollapsed only): also group by the same touches' values
    at that level, in `split_path`, so credits fitted at `level` can be spread at another
    (the bootstrap)."""
    for lv in (level, split_level or level):
        if lv not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    if split_level and collapse:
        raise ValueError("split_level needs uncollapsed paths (one step per touch)")
    require_built(wh)
    t = wh.table("touches")
    steps = {"path": in_order(t[level], t.position)}
    if split_level:
        steps["split_path"] = in_order(t[split_level], t.position)
    seq = t.group_by("journey_id").agg(**steps, converted=t.converted.any(), revenue=t.revenue.max())
    out = seq.group_by(list(steps)).agg(
        conversions=seq.converted.cast("int64").sum(),
        nulls=(~seq.converted).cast("int64").sum(),
        value=ibis.ifelse(seq.converted, seq.revenue, 0.0).sum(),
    ).to_pyarrow()
    df = pd.DataFrame({name: arrow_series(out[name].combine_chunks()) for name in steps})
    for name in ("conversions", "nulls", "value"):
        df[name] = out[name].to_numpy()
    return _regroup(df.assign(path=arrow_series(collapse_repeats(df.path)))) if collapse else df


def _regroup(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with the same path summed into one (paths that differed only by repeats)."""
    first, inverse = distinct(df.path)
    sums = {c: np.bincount(inverse, df[c].to_numpy(float), len(first)) for c in ("conversions", "nulls", "value")}
    return pd.DataFrame({
        "path": arrow_series(list_array(df.path).take(pa.array(first))),
        "conversions": sums["conversions"].round().astype("int64"),
        "nulls": sums["nulls"].round().astype("int64"),
        "value": sums["value"],
    })


def paths_from_frame(df: pd.DataFrame, path: str = "path", conversions: str = "conversions",
                     nulls: str | None = "nulls", value: str | None = None,
                     sep: str = ">") -> pd.DataFrame:
    """Paths from a DataFrame of strings like "email > search" (ChannelAttribution layout),
    split and collapsed by Arrow kernels (no Python loop over rows)."""
    missing = [c for c in (path, conversions, nulls, value) if c and c not in df.columns]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    parts = pc.split_pattern(pa.array(df[path].fillna("").astype(str), pa.string()), sep)
    flat = pc.utf8_trim_whitespace(parts.flatten())
    kept = pc.not_equal(pc.utf8_length(flat), 0)
    lens = np.bincount(pc.list_parent_indices(parts).filter(kept).to_numpy(), minlength=len(df))
    if (lens == 0).any():
        empty = ", ".join(str(i + 1) for i in np.flatnonzero(lens == 0)[:10])
        raise ValueError(f"column {path!r}: empty path on data row(s) {empty}")
    lists = pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(lens)]), pa.int32()),
                                     flat.filter(kept))
    return pd.DataFrame({
        "path": arrow_series(collapse_repeats(lists)),
        "conversions": df[conversions].fillna(0).astype("int64").to_numpy(),
        "nulls": df[nulls].fillna(0).astype("int64").to_numpy() if nulls else 0,
        "value": df[value].fillna(0).astype("float64").to_numpy() if value else 0.0,
    })


def list_array(paths) -> pa.ListArray:
    """A column of paths (lists, arrays, or an Arrow-backed Series) as one Arrow list array."""
    arr = paths if isinstance(paths, pa.Array | pa.ChunkedArray) else pa.array(paths)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def flatten(paths) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every step of every path: (path index, value code, values), codes index the values."""
    arr = list_array(paths)
    encoded = arr.flatten().dictionary_encode()
    return (pc.list_parent_indices(arr).to_numpy(), encoded.indices.to_numpy().astype(np.int64),
            encoded.dictionary.to_numpy(zero_copy_only=False))


def collapse_repeats(paths) -> pa.ListArray:
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


def distinct(paths) -> tuple[np.ndarray, np.ndarray]:
    """The distinct paths of a column: each one's first row, and each row's distinct path."""
    keys = pc.binary_join(list_array(paths), "\x1f").to_numpy(zero_copy_only=False)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse


def arrow_series(arr: pa.Array) -> pd.Series:
    return pd.Series(pd.arrays.ArrowExtensionArray(arr))
