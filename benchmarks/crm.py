"""CRM onboarding benchmark (issue 16): the CRM load's speed (emails and phones normalised and
hashed), the match rate against the simulator's truth, and what matching does for store sales.

Simulates --persons (default 200,000) over 60 days into bench-out/crm/ (kept: a second run
reuses it) and loads it three ways:

- `site`: as simulated; a store sale carries the site account (the store knows it) and the
  loyalty card. The match rate and its precision are measured here: a customer is linked
  rightly when the person parcours gives it holds a visitor id of the customer's true person
  and none of another's; "linkable" customers are those with an online order or a login
  under their CRM email (nothing else could link them).
- `card+crm`: store and call-centre sales carry the loyalty card only (no site account),
  and the CRM is loaded: hashes are the only way from a store sale to its buyer's devices.
- `card`: the same sales, no CRM.

For each: the share of account holders' offline sales whose journey holds a touch (what a
model can credit), and the build's time.

    .venv/bin/python benchmarks/crm.py [--persons 200000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

from parcours import Workspace

BIN = Path(sys.executable).parent / "parcours"
TABLES = ("touchpoints", "conversions", "identities")


def run(step: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(step, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def prepare(root: Path, persons: int) -> None:
    data = root / "data"
    if not (data / "crm.parquet").exists():
        took = run([str(BIN), "simulate", "--persons", str(persons), "--days", "60", "--seed", "5", "--out", str(data)])
        print(f"simulate {persons:,} persons: {took:.1f} s")
    card = data / "conversions_card.parquet"
    if not card.exists():  # offline sales known by their loyalty card only
        conv = pq.read_table(data / "conversions.parquet")
        offline = pc.not_equal(conv["origin"], "online")
        conv = conv.set_column(conv.schema.get_field_index("user_id"), "user_id",
                               pc.if_else(offline, None, conv["user_id"]))
        pq.write_table(conv, card)


def load(root: Path, variant: str) -> Path:
    data, ws = root / "data", root / variant
    if (ws / ".built").exists():
        return ws
    conversions = data / ("conversions.parquet" if variant == "site" else "conversions_card.parquet")
    times = {t: run([str(BIN), "ingest", t, str(conversions if t == "conversions" else data / f"{t}.parquet"),
                     "-w", str(ws)]) for t in TABLES}
    if variant != "card":
        times["crm"] = run([str(BIN), "ingest", "crm", str(data / "crm.parquet"), "-w", str(ws)])
    times["build"] = run([str(BIN), "build", "-w", str(ws)])
    print(f"{variant:<9} " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()), flush=True)
    (ws / ".built").touch()
    return ws


def offline_reached(ws_path: Path) -> tuple[int, int]:
    """(account holders' offline sales, those whose journey holds a touch)."""
    with Workspace(ws_path) as ws:
        j = ws.warehouse.table("journeys")
        j = j.filter(j.converted & (j.origin != "online") & j.attributes.notnull())  # account holders
        row = j.aggregate(n=j.count(), touched=(j.n_touches > 0).sum()).to_pyarrow().to_pylist()[0]
    return row["n"], int(row["touched"] or 0)


def against_truth(root: Path, ws_path: Path) -> dict:
    data = root / "data"
    con = duckdb.connect()
    con.execute(f"ATTACH '{ws_path / 'parcours.duckdb'}' AS w (READ_ONLY)")
    crm = pq.read_table(data / "crm.parquet")
    con.register("crm_file", crm)
    con.register("crm_truth", pq.read_table(data / "crm_truth.parquet"))
    con.register("persons_truth", pq.read_table(data / "persons_truth.parquet"))
    con.register("conv", pq.read_table(data / "conversions.parquet", columns=["origin", "email"]))
    con.register("logins", pq.read_table(data / "identities.parquet", columns=["email"]))
    row = con.execute("""
        WITH linked AS (  -- the customer's id in the graph: its site account, or crm:<id>
            SELECT t.customer_id, t.person AS truth, p.person_id
            FROM crm_truth t JOIN w.customer_ids c USING (customer_id)
            JOIN w.persons p ON p.kind = 'user' AND p.id = c.user_id),
        seen AS (  -- each linked customer's person: its visitors' true persons
            SELECT l.customer_id, l.truth, count(*) AS visitors,
                   count(*) FILTER (WHERE pt.person = l.truth) AS own
            FROM linked l JOIN w.persons v ON v.kind = 'visitor' AND v.person_id = l.person_id
            JOIN persons_truth pt ON pt.visitor_id = v.id
            GROUP BY ALL),
        online AS (  -- the emails an online order or a login carries
            SELECT lower(trim(email)) AS email FROM conv WHERE origin = 'online'
            UNION SELECT lower(trim(email)) FROM logins),
        linkable AS (
            SELECT DISTINCT c.customer_id FROM crm_file c JOIN online o ON o.email = lower(trim(c.email)))
        SELECT (SELECT count(*) FROM crm_file) AS customers,
               (SELECT count(*) FROM seen) AS linked,
               (SELECT count(*) FROM seen WHERE own = visitors) AS rightly,
               (SELECT count(*) FROM seen WHERE own = 0) AS wrongly,
               (SELECT count(*) FROM linkable) AS linkable,
               (SELECT count(*) FROM seen s JOIN linkable USING (customer_id)) AS linkable_linked
    """).fetchone()
    return dict(zip(("customers", "linked", "rightly", "wrongly", "linkable", "linkable_linked"), row, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=200_000)
    args = ap.parse_args()
    root = Path("bench-out/crm") / str(args.persons)
    prepare(root, args.persons)
    rows = pq.read_metadata(root / "data" / "crm.parquet").num_rows
    spaces = {v: load(root, v) for v in ("site", "card+crm", "card")}
    with Workspace(spaces["site"]) as ws:
        t = time.perf_counter()
        with ws.warehouse.loader() as wh:  # the load's hashing alone, on the stored file read again
            from parcours.load.ingest import load_file
            res = load_file(wh, "crm", root / "data" / "crm.parquet", crm=ws.config.crm)
        again = time.perf_counter() - t
    print(f"CRM file: {rows:,} customers; loading it again (every row read, hashed, compared): {again:.1f} s "
          f"({rows / again:,.0f} rows/s; {res.already_loaded:,} already loaded)")
    m = against_truth(root, spaces["site"])
    n = m["customers"]
    print(f"match rate: {m['linked']:,} of {n:,} customers linked to an online identity ({m['linked'] / n:.1%}); "
          f"rightly {m['rightly']:,} ({m['rightly'] / max(m['linked'], 1):.2%} of linked), "
          f"wrongly {m['wrongly']:,}")
    print(f"linkable (an online order or a login under their CRM email): {m['linkable']:,} ({m['linkable'] / n:.1%}); "
          f"linked among them {m['linkable_linked']:,} ({m['linkable_linked'] / max(m['linkable'], 1):.1%})")
    for variant, path in spaces.items():
        total, touched = offline_reached(path)
        print(f"{variant:<9} account holders' offline sales with a touch in their journey: "
              f"{touched:,} of {total:,} ({touched / max(total, 1):.1%})")


if __name__ == "__main__":
    main()
