import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import load_rows
from parcours.build.identity import stitch


def tp(event_id, visitor, user=""):
    return dict(event_id=event_id, ts="2026-10-01", visitor_id=visitor, user_id=user)


def persons(ws):
    wh = ws.warehouse
    expr = stitch(wh, wh.table("touchpoints"), wh.table("conversions"), wh.table("identities"))
    return {(r["kind"], r["id"]): r["person_id"] for r in expr.to_pyarrow().to_pylist()}


def test_links_are_transitive_across_users(ws):
    # A~u1, B~u1, B~u2, C~u2 => A, B, C are one person; D stays alone.
    load_rows(ws, "identities", [dict(visitor_id="A", user_id="u1"), dict(visitor_id="B", user_id="u1"),
                                 dict(visitor_id="B", user_id="u2"), dict(visitor_id="C", user_id="u2")])
    load_rows(ws, "touchpoints", [tp("e1", "A"), tp("e2", "C"), tp("e3", "D")])
    p = persons(ws)
    assert p[("visitor", "A")] == p[("visitor", "B")] == p[("visitor", "C")] == "v:A"
    assert p[("user", "u1")] == p[("user", "u2")] == "v:A"
    assert p[("visitor", "D")] == "v:D"


def test_a_long_chain_of_links_settles_into_one_person(ws):
    # v9~u8, v8~u8, v8~u7, v7~u7 ... v1~u1: the smallest label must travel 8 hops.
    links = []
    for i in range(1, 9):
        links += [dict(visitor_id=f"v{i}", user_id=f"u{i}"), dict(visitor_id=f"v{i + 1}", user_id=f"u{i}")]
    load_rows(ws, "identities", links)
    assert set(persons(ws).values()) == {"v:v1"}


def test_touchpoints_and_conversions_carrying_both_ids_link_them(ws):
    load_rows(ws, "touchpoints", [tp("e1", "mobile", "u1"), tp("e2", "laptop")])
    load_rows(ws, "conversions", [dict(conversion_id="c1", ts="2026-10-02", visitor_id="laptop", user_id="u1"),
                                  dict(conversion_id="c2", ts="2026-10-02", user_id="store-only")])
    p = persons(ws)
    assert p[("visitor", "mobile")] == p[("visitor", "laptop")] == p[("user", "u1")] == "v:laptop"
    assert p[("user", "store-only")] == "u:store-only"


edges = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=1, max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edges=edges)
def test_persons_are_the_connected_components_of_the_id_graph(ws, edges):
    wh = ws.warehouse
    wh.ensure_canonical_tables()
    wh.con.raw_sql("DELETE FROM identities")
    load_rows(ws, "identities", [dict(visitor_id=f"v{a:02}", user_id=f"u{b:02}") for a, b in edges])
    graph = nx.Graph((f"v:v{a:02}", f"u:u{b:02}") for a, b in edges)
    expected = {}
    for component in nx.connected_components(graph):
        label = min(n for n in component if n.startswith("v:"))
        expected.update(dict.fromkeys(component, label))
    got = {f"{'v' if kind == 'visitor' else 'u'}:{id_}": person
           for (kind, id_), person in persons(ws).items()}
    assert got == expected
