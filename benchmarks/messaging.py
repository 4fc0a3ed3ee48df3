"""Messaging journeys benchmark (issue 15): the report's time on a simulated workspace's
messages, and how close each journey's holdout lift comes to the simulator's truth.

Simulates --persons (default 1,000,000) over 90 days into bench-out/messaging/ (kept: a
second run reuses it), loads and builds it, then times the `messaging` report (every
journey by step, by journey, one step's recipients, and engagement only), each run twice
(cold: the first in the process, which fits the credit's Markov model once for the build;
then warm: a new answer in a process that has, as a server after its build), all read from
the build's message facts (`build/message_facts.py`), and prints `parcours evaluate
--messages-truth` (estimate, 95% interval, truth, error per journey), then the same
estimator on the simulator's true identities (persons_truth) and the share of the sent
entrants' true orders parcours links to them: what the identity graph costs the estimate.

    .venv/bin/python benchmarks/messaging.py [--persons 1000000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from simulated import workspace

from parcours import Workspace
from parcours.contract.query import Query
from parcours.reports import run_report
from parcours.reports.messaging_lift import against_truth, lift
from parcours.reports.messaging_metrics import TOTAL, Selection, engagement

TABLES = ("touchpoints", "conversions", "identities", "costs", "truth", "messages", "messages_truth")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    args = ap.parse_args()
    root = Path("bench-out/messaging") / str(args.persons)
    ws_path = workspace(root, ["--persons", str(args.persons), "--seed", "11"], TABLES, build=True)
    with Workspace(ws_path) as ws:
        wh = ws.warehouse
        print(f"messages: {wh.count('messages'):,} events; conversions {wh.count('conversions'):,}")
        asks = {"by step (the page)": Query(by="step"), "by journey": Query(by="journey"),
                "one step's recipients": Query(journey="welcome", step="welcome-1", by="recipient")}
        for name, q in asks.items():
            times = []
            for _ in range(2):
                t = time.perf_counter()
                r = run_report("messaging", wh, ws.config, q)
                times.append(time.perf_counter() - t)
            print(f"report {name:<24} cold {times[0]:5.2f} s, warm {times[1]:5.2f} s ({len(r.table):,} rows)")
        t = time.perf_counter()
        engagement(wh, TOTAL, selection=Selection())
        print(f"engagement only (the build's facts) {time.perf_counter() - t:5.2f} s")
        truth = pd.read_parquet(root / "data" / "messages_truth.parquet")
        pd.set_option("display.width", 200)
        window = ws.config.messaging.lift_window_days
        estimate = against_truth(wh, truth, window)
        print(estimate.round(3).to_string(index=False))
        true = with_true_identities(root / "data", window)
        linked = lift(wh, Selection(), window).set_index("journey")
        for journey, row in true.iterrows():
            seen = linked.orders_per_entrant[journey] * linked.entrants[journey]
            print(f"{journey}: on true identities {row.estimate:,.1f} incremental orders; parcours links "
                  f"{seen / row.sent_orders:.1%} of the sent entrants' true orders to them")


def with_true_identities(data: Path, window: int) -> pd.DataFrame:
    """The holdout estimate with every entrant's conversions found by the simulator's own
    person ids (persons_truth), in pandas: what parcours would say with a perfect graph."""
    m = pd.read_parquet(data / "messages.parquet", columns=["ts", "journey", "event", "user_id"])
    m["person"] = m.user_id.str[1:].astype(int)
    e = m.groupby(["journey", "person"]).agg(entry=("ts", "min"), held=("event", lambda s: (s == "held_out").any()),
                                             sent=("event", lambda s: (s == "sent").any())).reset_index()
    e = e[e.held | e.sent].assign(held=lambda f: f.held & ~f.sent)
    c = pd.read_parquet(data / "conversions.parquet", columns=["ts", "visitor_id", "user_id", "kind"])
    c = c[c.kind == "sale"]  # orders, as the report counts them (a lead is no order)
    who = pd.read_parquet(data / "persons_truth.parquet").set_index("visitor_id").person
    c["person"] = c.visitor_id.map(who).fillna(c.user_id.str.extract(r"(\d+)$")[0].astype(float))
    x = e.merge(c.assign(day=c.ts.dt.floor("D"))[["person", "day"]], on="person", how="left")
    first = x.entry.dt.floor("D")
    x["inside"] = (x.day >= first) & (x.day < first + pd.Timedelta(days=window))
    per = x.groupby(["journey", "person", "held"]).inside.sum().reset_index()
    rows = {}
    for journey, g in per.groupby("journey"):
        sent, held = g[~g.held].inside, g[g.held].inside
        rows[journey] = {"estimate": len(sent) * (sent.mean() - held.mean()), "sent_orders": sent.sum()}
    return pd.DataFrame.from_dict(rows, orient="index")


if __name__ == "__main__":
    main()
