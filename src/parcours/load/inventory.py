"""What a workspace holds, for `parcours info`: counts, date ranges, channels, stitching."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from parcours.contract import schema

if TYPE_CHECKING:  # a client reads Facts without an engine
    from parcours.engine.storage import Storage


@dataclass
class Facts:
    tables: dict[str, tuple[int, object, object]] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    visitors: int = 0
    persons: int = 0
    stitched_visitors: int = 0
    built: dict | None = None

    @property
    def stitched_share(self) -> float:
        return self.stitched_visitors / self.visitors if self.visitors else 0.0

    def lines(self) -> list[str]:
        out = []
        if self.built:
            out.append(f"built as of {self.built['as_of']}: conversions before {self.built['cut']}")
        else:
            out.append("not built yet: run `parcours build`")
        if self.visitors:
            out.append(f"persons: {self.persons:,} from {self.visitors:,} visitor ids; "
                       f"stitched share {self.stitched_share:.1%} "
                       "(visitor ids linked to another id)")
            out.append("rows: the persons table has one row per visitor or user id, naming its person; "
                       "journeys has one per conversion, plus one per person with touches after their "
                       "last conversion; touches has one per touch of a journey")
        crm = self.built or {}
        if crm.get("crm_customers"):
            n = crm["crm_customers"]
            out.append(f"CRM: {n:,} customers, {crm['crm_linked']:,} linked to an online identity "
                       f"(match rate {crm['crm_linked'] / n:.1%}); {crm['crm_by_account']:,} name their site "
                       f"account, {crm['crm_by_email']:,} matched by email hash, {crm['crm_by_phone']:,} by phone hash")
        if self.channels:
            out.append("channels: " + ", ".join(f"{c} ({n:,})" for c, n in self.channels.items()))
        return out


def describe(wh: Storage) -> Facts:
    with wh.snapshot():  # one state of the warehouse, even if a load or a build commits meanwhile
        return _describe(wh)


def _describe(wh: Storage) -> Facts:
    facts = Facts()
    for name in (*schema.TABLES, "persons", "journeys", "touches"):
        if not wh.has(name):
            continue
        t = wh.table(name)
        col = schema.TIME_COLUMNS.get(name)
        if col:
            row = t.aggregate(n=t.count(), lo=t[col].min(), hi=t[col].max()).to_pyarrow().to_pylist()[0]
            facts.tables[name] = (row["n"], row["lo"], row["hi"])
        else:
            facts.tables[name] = (int(t.count().execute()), None, None)
    source = wh.table("touches") if wh.has("touches") else wh.table("touchpoints")
    counts = source.group_by("channel").agg(n=source.count()).order_by([source.count().desc()])
    facts.channels = {r["channel"] or "(unclassified)": r["n"]
                      for r in counts.to_pyarrow().to_pylist()}
    if wh.has("persons"):
        p = wh.table("persons")
        size = p.group_by("person_id").agg(ids=p.count())
        v = p.filter(p.kind == "visitor").join(size, "person_id")
        row = v.aggregate(visitors=v.count(), stitched=(v.ids > 1).sum()).to_pyarrow().to_pylist()[0]
        facts.visitors, facts.stitched_visitors = row["visitors"], int(row["stitched"] or 0)
        facts.persons = int(p.person_id.nunique().execute())
    if wh.has("build_meta"):
        facts.built = wh.table("build_meta").to_pyarrow().to_pylist()[0]
    return facts
