"""Identity stitching: visitor and user ids linked by logins form one person.

Persons are the connected components of the bipartite graph visitor_id -- user_id, found by
label propagation in the engine: every id takes the smallest label among its neighbours,
round after round, until no label changes (rounds = the longest chain of links, a handful
in practice). A person's id is the smallest of its ids, prefixed "v:" or "u:".

CRM customers join the graph as user ids: their CRM `user_id` when the CRM knows the site
account, else the site account a sale carried beside the customer id, else `[crm] id_prefix`
+ customer_id. A conversion carrying only a customer_id (a
store sale) takes that id; a customer whose email or phone hash an online order or a login
carries is linked to that row's visitor id, as a login links a user id.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from parcours.engine.storage import Storage

MAX_ROUNDS = 200
SHARED = 5  # a hash more CRM customers than this carry is a shared mailbox or a placeholder: it links nothing
HASHES = ("email_sha256", "phone_sha256")


def customer_ids(crm: ir.Table, conversions: ir.Table, prefix: str) -> ir.Table:
    """(customer_id, user_id): the graph id of every customer the CRM or a conversion names.
    The site account the CRM row gives, else the one a sale carried beside the customer id
    (a logged-in customer's loyalty card; the smallest if several), else prefix + customer_id."""
    c = conversions.filter(conversions.customer_id.notnull())
    paired = c.group_by("customer_id").agg(_paired=c.user_id.min())
    every = ibis.union(crm.select("customer_id"), c.select("customer_id"), distinct=True)
    j = every.left_join(crm.select("customer_id", _crm=crm.user_id), "customer_id").select("customer_id", "_crm")
    j = j.left_join(paired, "customer_id").select("customer_id", "_crm", "_paired")
    return j.select("customer_id", user_id=j._crm.coalesce(j._paired, prefix + j.customer_id))


def with_customers(conversions: ir.Table, ids: ir.Table) -> ir.Table:
    """Conversions whose user_id, when they have none, is their customer's graph id (`ids`:
    customer_ids)."""
    ids = ids.rename(_cid="customer_id", _cuser="user_id")
    cols = conversions.columns
    j = conversions.left_join(ids, conversions.customer_id == ids._cid).select(*cols, "_cuser")
    return j.mutate(user_id=j.user_id.coalesce(j._cuser)).drop("_cuser")


def hash_links(rows: dict[str, ir.Table], crm: ir.Table, ids: ir.Table) -> ir.Table:
    """Identity rows (visitor_id, user_id, ts, load_seq, source, via) that hashes make: the
    visitor id of an online order or a login (`rows`: conversions, identities) with every CRM
    customer carrying its email or phone hash (`via`). The rows keep their source row's time,
    table and load, so an incremental build sees a new order's link as new."""
    parts = []
    for column in HASHES:
        c = crm.filter(crm[column].notnull())
        shared = c.group_by(column).agg(n=c.count()).filter(lambda t: t.n > SHARED).select(column)
        c = c.anti_join(shared, column).select(_cid=c.customer_id, _h=c[column])
        c = c.join(ids, c._cid == ids.customer_id).select("_h", _cuser=ids.user_id)
        for source, t in rows.items():
            o = t.filter(t.visitor_id.notnull() & t[column].notnull())
            j = o.join(c, o[column] == c._h)
            parts.append(j.select(visitor_id=j.visitor_id, user_id=j._cuser, ts=j.ts, load_seq=j.load_seq,
                                  source=ibis.literal(source), via=ibis.literal(column.removesuffix("_sha256"))))
    return ibis.union(*parts)


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

def crm_matches(crm: ir.Table, ids: ir.Table, links: ir.Table, persons: ir.Table, prefix: str) -> dict[str, int]:
    """How the CRM met the site, for `parcours info`: customers; those linked to an online
    identity (their person has a visitor id); those tied to a site account (by the CRM row or
    a sale carrying both ids); and those an email or a phone hash linked."""
    ids = ids.semi_join(crm, "customer_id")
    online = persons.filter(persons.kind == "visitor").select("person_id").distinct()
    users = persons.filter(persons.kind == "user")
    linked = ids.join(users, ids.user_id == users.id).semi_join(online, "person_id")
    counts = {"crm_customers": crm.count(), "crm_linked": linked.customer_id.nunique(),
              "crm_by_account": ids.filter(ids.user_id != prefix + ids.customer_id).count(),
              **{f"crm_by_{via}": links.filter(links.via == via).user_id.nunique() for via in ("email", "phone")}}
    return {k: int(v.execute() or 0) for k, v in counts.items()}


def with_person(t: ir.Table, persons: ir.Table) -> ir.Table:
    """Rows carrying a visitor_id and a user_id, with `person_id`: the person of the visitor
    id, else of the user id (NULL when the graph knows neither). Stitching puts both ids of
    a row in one person, so the order only matters for ids the graph has not seen together."""
    visitors = persons.filter(persons.kind == "visitor").select(_vid="id", _vperson="person_id")
    users = persons.filter(persons.kind == "user").select(_uid="id", _uperson="person_id")
    cols = t.columns
    t = t.left_join(visitors, t.visitor_id == visitors._vid).select(*cols, "_vperson")
    t = t.left_join(users, t.user_id == users._uid).select(*cols, "_vperson", "_uperson")
    return t.mutate(person_id=t._vperson.coalesce(t._uperson)).drop("_vperson", "_uperson")
