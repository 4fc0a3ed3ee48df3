"""Attribution benchmark: exact Markov vs ChannelAttribution, and rule-based credits at scale.

1. The same simulated path data (a random first-order chain over 12 channels) goes to
   ChannelAttribution's `markov_model` (simulation-based, installed in its own virtualenv,
   bench-env/, as its docs say) and to parcours' exact `Markov`; prints both times, the ratio
   and the largest difference in attributed share.
2. Markov with 1,000+ states (order 3 over those channels; 40 campaigns at order 2).
3. Rule-based credits for N touches (default 100M) generated in DuckDB: every model's credits,
   summed per channel, timed.
4. With --path-file: every model on an aggregated path file (e.g. ChannelAttribution's
   10,000-path sample, Data.csv), read and credited in process, best of 5; with bench-env/
   present, ChannelAttribution's `heuristic_models` on the same file.

    .venv/bin/python benchmarks/attribution.py [--paths 2000 20000 200000] [--touches 100000000]
    .venv/bin/python benchmarks/attribution.py --path-file Data.csv [--delimiter ';']
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from parcours.attribution import (
    Custom,
    FirstTouch,
    LastNonDirect,
    LastTouch,
    Linear,
    Markov,
    PositionBased,
    TimeDecay,
    paths_from_frame,
    touch_credits,
)

ENV = Path("bench-env")
CA_RUN = """
import json, sys, time, pandas as pd, ChannelAttribution as ca
df = pd.read_csv(sys.argv[1])
for order in json.loads(sys.argv[2]):
    times = []
    for _ in range(5):  # best of 5, as for parcours
        t = time.perf_counter()
        r = ca.markov_model(df, "path", "total_conversions", var_null="total_null", order=order,
                            out_more=True, verbose=False, flg_pro=False)
        times.append(time.perf_counter() - t)
    s = min(times)
    res = r["result"]
    print(json.dumps({"order": order, "seconds": s,
                      "conversions": dict(zip(res.channel_name, res.total_conversions))}))
"""


def channelattribution_python() -> Path:
    python = ENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ENV)], check=True)
        pip = [str(ENV / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, "setuptools>=77", "cython", "numpy", "pandas", "matplotlib"], check=True)
        subprocess.run([*pip, "--no-build-isolation", "channelattribution"], check=True)
    return python


def simulate_paths(n_paths: int, n_channels: int, seed: int = 1) -> pd.DataFrame:
    """Distinct paths from a random chain: each step continues, converts or drops out."""
    rng = np.random.default_rng(seed)
    names = [f"ch{i:02}" for i in range(n_channels)]
    trans = rng.dirichlet(np.ones(n_channels) * 0.5, size=n_channels)
    lift = rng.uniform(0.02, 0.15, size=n_channels)
    rows: dict[str, list[int]] = {}
    for _ in range(n_paths * 3):
        c = rng.integers(n_channels)
        path = [c]
        while rng.random() < 0.55 and len(path) < 12:
            c = rng.choice(n_channels, p=trans[c])
            path.append(c)
        key = " > ".join(names[i] for i in path)
        conv = rng.random() < min(0.9, lift[path].sum())
        rows.setdefault(key, [0, 0])[0 if conv else 1] += 1
        if len(rows) >= n_paths:
            break
    return pd.DataFrame([(k, c, n) for k, (c, n) in rows.items()],
                        columns=["path", "total_conversions", "total_null"])


def time_parcours(df: pd.DataFrame, order: int, repeat: int = 7) -> tuple[float, Markov]:
    """Best of `repeat` runs from the DataFrame of path strings (parsing included, as for
    ChannelAttribution) to fitted removal effects."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        m = Markov(order=order).fit(paths_from_frame(df, "path", "total_conversions", "total_null", sep=">"))
        times.append(time.perf_counter() - t)
    return min(times), m


def compare(frames: list[pd.DataFrame], orders: list[int]) -> None:
    python = channelattribution_python()
    print(f"{'order':>5}{'paths':>8}{'states':>8}{'ChannelAttribution s':>22}{'parcours s':>12}"
          f"{'speed-up':>10}{'max share diff':>16}")
    for df in frames:
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as fh:
            df.to_csv(fh, index=False)
        out = subprocess.run([str(python), "-c", CA_RUN, fh.name, json.dumps(orders)], check=True,
                             capture_output=True, text=True).stdout
        ca = {r["order"]: r for r in map(json.loads, [x for x in out.splitlines() if x.startswith("{")])}
        for order in orders:
            seconds, m = time_parcours(df, order)
            ours = m.credits().set_index("channel").conversions
            theirs = pd.Series(ca[order]["conversions"])
            diff = (ours / ours.sum() - theirs.reindex(ours.index) / theirs.sum()).abs().max()
            print(f"{order:>5}{len(df):>8,}{m.states:>8,}{ca[order]['seconds']:>22.3f}{seconds:>12.3f}"
                  f"{ca[order]['seconds'] / seconds:>10.1f}x{diff:>16.5f}")


def rule_based(touches: int) -> None:
    con = ibis.duckdb.connect()
    con.raw_sql(f"""
        CREATE TABLE t AS
        SELECT 'j' || (i // 5) AS journey_id, (i % 5)::BIGINT + 1 AS position, 5::BIGINT AS n,
               (i % 5) = 4 AS is_last, 'ch' || (hash(i) % 12) AS channel,
               CASE WHEN hash(i) % 7 = 0 THEN 'view' ELSE 'click' END AS interaction,
               TIMESTAMP '2026-10-01' + to_seconds((i % 5) * 86400) AS ts,
               TIMESTAMP '2026-10-06' AS conv_ts, 100.0 AS revenue
        FROM range({touches}) r(i)""")
    t = con.table("t")
    models = [FirstTouch(), LastTouch(), LastNonDirect(direct=("ch00",)), Linear(), PositionBased(),
              TimeDecay(), Custom(3, 1, 2)]
    print(f"\nrule-based credits over {touches:,} touches ({touches // 5:,} journeys), summed per channel:")
    total = 0.0
    for model in models:
        c = touch_credits(model, t)
        q = c.group_by("channel").agg(conversions=c.credit.sum())
        start = time.perf_counter()
        got = q.to_pandas().conversions.sum()
        seconds = time.perf_counter() - start
        total += seconds
        assert abs(got - touches // 5) < 1e-3 * touches / 5, (model.name, got)
        print(f"  {model.name:<16}{seconds:>8.1f} s   {touches / seconds:>14,.0f} touches/s")
    print(f"  {'all seven':<16}{total:>8.1f} s")


CA_HEURISTIC = """
import sys, time, pandas as pd, ChannelAttribution as ca
df = pd.read_csv(sys.argv[1], sep=sys.argv[2])
times = []
for _ in range(5):
    t = time.perf_counter()
    ca.heuristic_models(df, "path", "total_conversions", var_value="total_conversion_value")
    times.append(time.perf_counter() - t)
print(min(times))
"""


def path_file(file: Path, delimiter: str) -> None:
    from parcours.attribution import NAMES
    from parcours.attribution.catalogue import attribute_paths, make_model
    from parcours.attribution.paths import read_paths

    def read():
        return read_paths(file, "path", "total_conversions", "total_null", "total_conversion_value",
                          delimiter=delimiter)

    p = read()
    print(f"\n{file}: {len(p):,} paths, {p.conversions.sum():,} conversions; read + credit, best of 5")
    for name in NAMES:
        if name == "time_decay":
            continue
        model = make_model(name)
        attribute_paths(model, p)  # the once-per-model compile
        times = []
        for _ in range(5):
            start = time.perf_counter()
            attribute_paths(model, read())
            times.append(time.perf_counter() - start)
        print(f"  {name:<16}{min(times) * 1000:>8.1f} ms")
    if (ENV / "bin" / "python").exists():
        out = subprocess.run([str(ENV / "bin" / "python"), "-c", CA_HEURISTIC, str(file), delimiter],
                             check=True, capture_output=True, text=True).stdout
        print(f"  ChannelAttribution heuristic_models (first, last, linear at once): {float(out) * 1000:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, nargs="+", default=[2_000, 20_000, 200_000],
                    help="distinct-path cap of each path set (3x as many journeys are drawn)")
    ap.add_argument("--touches", type=int, default=100_000_000)
    ap.add_argument("--path-file", type=Path, help="only time every model on this path file")
    ap.add_argument("--delimiter", default=";")
    args = ap.parse_args()
    if args.path_file:
        path_file(args.path_file, args.delimiter)
        return
    frames = [simulate_paths(n, 12) for n in args.paths]
    print("12 channels, distinct paths: " + ", ".join(f"{len(df):,}" for df in frames))
    compare(frames, [1, 2, 3])
    print("\n40 campaigns at order 2:")
    camp = simulate_paths(args.paths[-1], 40, seed=2)
    for order in (1, 2):
        seconds, m = time_parcours(camp, order)
        print(f"  order {order}: {m.states:,} states, parcours exact Markov {seconds:.3f} s")
    rule_based(args.touches)


if __name__ == "__main__":
    main()
