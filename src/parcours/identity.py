"""Identity stitching: visitor and user ids linked by logins form one person.

Persons are the connected components of the bipartite graph visitor_id -- user_id, found by
label propagation in the engine: every id takes the smallest label among its neighbours,
round after round, until no label changes (rounds = the longest chain of links, a handful
in practice). A person's id is the smallest of its ids, prefixed "v:" or "u:".
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from parcours.storage import Storage

MAX_ROUNDS = 200


def links(touchpoints: ir.Table, conversions: ir.Table, identities: ir.Table) -> ir.Table:
    """Every (visitor_id, user_id) pair seen together, once."""
    parts = [t.filter(t.visitor_id.notnull() & t.user_id.notnull()).select("visitor_id", "user_id")
             for t in (identities, touchpoints, conversions)]
    return ibis.union(*parts, distinct=True)


def stitch(wh: Storage, touchpoints: ir.Table, conversions: ir.Table,
           identities: ir.Table) -> ir.Table:
    """The `persons` expression: kind ('visitor'|'user'), id, person_id, for every id seen."""
    edges = wh.materialize("_edges", links(touchpoints, conversions, identities))
    label = wh.materialize("_vlabel", edges.select(
        "visitor_id", label="v:" + edges.visitor_id).distinct())
    for _ in range(MAX_ROUNDS):
        user = edges.join(label, "visitor_id").group_by("user_id").agg(label=lambda t: t.label.min())
        new = (edges.join(user, "user_id").group_by("visitor_id")
               .agg(label=lambda t: t.label.min()))
        new = wh.materialize("_vlabel_next", new)
        changed = new.join(label, "visitor_id").filter(lambda t: t.label != t.label_right)
        settled = changed.count().execute() == 0
        label = wh.materialize("_vlabel", new)
        if settled:
            break
    else:  # pragma: no cover - would need a chain of MAX_ROUNDS links
        raise RuntimeError("identity graph did not settle; is a chain of links this long real?")
    user = edges.join(label, "visitor_id").group_by("user_id").agg(person_id=lambda t: t.label.min())

    visitors = ibis.union(
        touchpoints.select("visitor_id"),
        edges.select("visitor_id"),
        conversions.filter(conversions.visitor_id.notnull()).select("visitor_id"),
        distinct=True,
    )
    v = visitors.left_join(label, "visitor_id")
    vp = v.select(kind=ibis.literal("visitor"), id=v.visitor_id,
                  person_id=v.label.coalesce("v:" + v.visitor_id))
    users = ibis.union(edges.select("user_id"),
                       conversions.filter(conversions.user_id.notnull()).select("user_id"),
                       distinct=True)
    u = users.left_join(user, "user_id")
    up = u.select(kind=ibis.literal("user"), id=u.user_id,
                  person_id=u.person_id.coalesce("u:" + u.user_id))
    return vp.union(up)
