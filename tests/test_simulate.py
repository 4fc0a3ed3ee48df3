import dataclasses
import datetime as dt
import os

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from builders import rows_of
from parcours.build.channels import classify
from parcours.load.ingest import load_file
from parcours.simulate import CHANNELS, TARGETED, WORLDS, simulate

END = dt.date(2026, 11, 23)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("sim"), persons=3000, seed=5, end=END)


def read(sim, name):
    return pq.read_table(sim.files[name])


def test_one_file_per_table_named_after_it(sim):
    assert {n: p.name for n, p in sim.files.items()} == {
        n: f"{n}.parquet" for n in ("touchpoints", "conversions", "identities", "persons_truth",
                                   "costs", "truth", "messages", "messages_truth", "crm", "crm_truth",
                                   "propensity_truth", "channel_truth")}
    assert read(sim, "touchpoints").num_rows == sim.touchpoints > 20_000


def test_same_seed_same_data_other_seed_other_data(sim, tmp_path):
    again = simulate(tmp_path / "a", persons=3000, seed=5, end=END)
    other = simulate(tmp_path / "b", persons=3000, seed=6, end=END)
    for name in ("touchpoints", "conversions", "truth"):
        assert read(again, name).equals(read(sim, name))
    assert not read(other, "conversions").equals(read(sim, "conversions"))


def test_the_period_ends_on_the_given_day_so_the_d2_cut_shows(sim):
    days = pc.unique(pc.cast(read(sim, "touchpoints")["ts"], "date32")).to_pylist()
    assert max(days) == END and min(days) == END - dt.timedelta(days=89) and len(days) == 90


def test_conversions_cover_online_store_and_call_centre_with_ids_to_join_them(sim):
    conv = read(sim, "conversions").to_pandas()
    assert set(conv.origin) == {"online", "store", "call_centre"}
    offline = conv[conv.origin != "online"]
    assert offline.visitor_id.isna().all() and offline.user_id.notna().all()
    assert (conv[conv.kind == "lead"].revenue == 0).all() and (conv[conv.kind == "sale"].revenue > 0).all()


def test_truth_is_the_resimulation_with_the_channel_switched_off(sim, tmp_path):
    truth = read(sim, "truth").to_pandas()
    total = sim.conversions
    off = tuple(dataclasses.replace(c, beta=0.0) if c.name == "paid_search" else c for c in CHANNELS)
    without = simulate(tmp_path / "off", persons=3000, seed=5, end=END, channels=off)
    gained = truth[truth.channel == "paid_search"].incremental_conversions.sum()
    assert gained > 0 and without.conversions == total - gained
    none = tuple(dataclasses.replace(c, beta=0.0) for c in CHANNELS)
    base = simulate(tmp_path / "none", persons=3000, seed=5, end=END, channels=none)
    assert base.conversions == truth[truth.channel == "(base)"].incremental_conversions.sum()
    assert (truth.incremental_conversions >= 0).all()


def test_csv_output_loads_without_rejects(tmp_path, ws):
    files = simulate(tmp_path / "csv", persons=300, seed=2, end=END, fmt="csv").files
    for table in ("touchpoints", "conversions", "identities", "costs", "messages"):
        res = load_file(ws.warehouse, table, files[table])
        assert res.rejected_rows == 0 and res.inserted > 0, table
    assert any(c["categories"] for c in rows_of(ws, "conversions"))


def test_classification_recovers_every_simulated_channel(sim, ws):
    """Half the touches carry only utm/referrer: the default rules must find their channel."""
    load_file(ws.warehouse, "touchpoints", sim.files["touchpoints"])
    t = classify(ws.warehouse.table("touchpoints"), ws.config)
    counts = {r["channel"]: r["n"] for r in t.group_by("channel").agg(n=t.count()).to_pyarrow().to_pylist()}
    assert counts == sim.touches_by_channel


WORLD_END, WORLD_DAYS, WORLD_PERSONS = dt.date(2026, 11, 23), 45, 2500


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    root = tmp_path_factory.mktemp("worlds")
    return {w: simulate(root / w, persons=WORLD_PERSONS, seed=8, days=WORLD_DAYS, end=WORLD_END, scenario=w)
            for w in WORLDS}


def per_day(table) -> pd.Series:
    conv = table.to_pandas()
    return conv.groupby(conv.ts.dt.date).size()


@pytest.mark.parametrize("world", list(WORLDS))
def test_each_worlds_truth_is_its_resimulation_with_the_channel_switched_off(worlds, world, tmp_path):
    sim = worlds[world]
    truth = read(sim, "truth").to_pandas()
    everyone = per_day(read(sim, "conversions"))
    gains = 0.0
    for channel in ("display", "paid_search", "social"):
        without = simulate(tmp_path / channel, persons=WORLD_PERSONS, seed=8, days=WORLD_DAYS, end=WORLD_END,
                           scenario=world, off=channel)
        assert channel not in set(read(without, "touchpoints")["channel"].drop_null().to_pylist())
        gained = truth[truth.channel == channel].set_index("date").incremental_conversions
        lost = everyone.sub(per_day(read(without, "conversions")), fill_value=0)
        gains += gained.sum()
        assert (lost.reindex(gained.index, fill_value=0) == gained).all(), (world, channel)  # day by day
    assert gains > 0  # a channel that changed nothing would prove nothing


def shares(sim) -> pd.Series:
    truth = read(sim, "truth").to_pandas()
    by = truth[truth.channel != "(base)"].groupby("channel").incremental_conversions.sum()
    return by / by.sum()


def last_touches(sim) -> pd.Series:
    """Each channel's share of the last labelled touch of the same person before an online
    conversion (within 30 days): what last click credits."""
    tp, conv, persons = (read(sim, n).to_pandas() for n in ("touchpoints", "conversions", "persons_truth"))
    who = persons.set_index("visitor_id").person
    tp = tp.dropna(subset=["channel"]).assign(person=lambda t: t.visitor_id.map(who)).sort_values("ts")
    conv = conv[conv.visitor_id.notna()].assign(person=lambda c: c.visitor_id.map(who)).sort_values("ts")
    last = pd.merge_asof(conv, tp[["ts", "person", "channel"]], on="ts", by="person", tolerance=pd.Timedelta(days=30))
    return last.channel.value_counts(normalize=True)


def test_each_world_leaves_its_mark(worlds):
    additive = shares(worlds["additive"])
    # synergy: display earns search's lift; search alone is weaker
    synergy = shares(worlds["synergy"])
    assert synergy["display"] > 1.3 * additive["display"] and synergy["paid_search"] < additive["paid_search"]
    # selection: the targeted channels' touches sit on the days people convert anyway, so the
    # last touch before a conversion is theirs far more often than their true share
    for world, most in (("additive", 1.3), ("selection", None)):
        last = last_touches(worlds[world])[list(TARGETED)].sum()
        true = shares(worlds[world])[list(TARGETED)].sum()
        assert (last < most * true) if most else (last > 2 * true), world
    # ... and intent shows: the targeted touches mostly follow a visit to the cart that day
    def after_cart(world):
        tp, persons = (read(worlds[world], n).to_pandas() for n in ("touchpoints", "persons_truth"))
        tp = tp.assign(person=tp.visitor_id.map(persons.set_index("visitor_id").person), day=tp.ts.dt.date)
        carts = tp[tp.funnel_stage == "cart"]
        first = carts.groupby(["person", "day"]).ts.min().rename("cart_ts").reset_index()
        targeted = tp[tp.channel.isin(TARGETED)].merge(first, on=["person", "day"], how="left")
        return (targeted.cart_ts < targeted.ts).mean()
    assert after_cart("selection") > 0.5 > 5 * after_cart("additive")
    # saturation: the same touches buy fewer conversions
    def incremental(w):
        truth = read(worlds[w], "truth").to_pandas()
        return truth[truth.channel != "(base)"].incremental_conversions.sum()
    assert incremental("saturation") < 0.8 * incremental("additive")
    # offline: display and social drive store and call-centre sales, some of them by buyers
    # no online identity matches
    off = read(worlds["offline"], "conversions").to_pandas()
    assert shares(worlds["offline"])[["display", "social"]].sum() > 1.5 * additive[["display", "social"]].sum()
    before = read(worlds["additive"], "conversions").to_pandas()
    assert (off.origin != "online").mean() > 1.5 * (before.origin != "online").mean()
    crm = off[off.user_id.fillna("").str.startswith("crm")]
    ids = set(read(worlds["offline"], "identities")["user_id"].to_pylist())
    assert len(crm) > 0 and not set(crm.user_id) & ids and (crm.origin != "online").all()


def test_an_unknown_world_or_channel_is_one_line(tmp_path):
    with pytest.raises(ValueError, match="unknown scenario 'mars'; scenarios: additive, selection"):
        simulate(tmp_path, persons=10, scenario="mars")
    with pytest.raises(ValueError, match="unknown channel 'tv'"):
        simulate(tmp_path, persons=10, off="tv")
    no_direct = tuple(c for c in CHANNELS if c.name != "direct")
    with pytest.raises(ValueError, match="the selection world needs the direct and organic_search channels"):
        simulate(tmp_path, persons=10, scenario="selection", channels=no_direct)


# -- messaging journeys (parcours.simulate.messages) ---------------------------------------

def messages_of(sim) -> pd.DataFrame:
    m = read(sim, "messages").to_pandas()
    return m.assign(person=m.user_id.str[1:].astype(int))


def test_every_click_is_a_touchpoint_of_the_same_person_at_the_same_time(sim):
    clicks = messages_of(sim).query("event == 'clicked'")
    tp = read(sim, "touchpoints").to_pandas()
    tp = tp.assign(person=tp.visitor_id.str.extract(r"^v(\d+)-")[0].astype(int),
                   campaign=tp.campaign.fillna(tp.utm_campaign))
    joined = clicks.merge(tp, on=["person", "ts"], how="left", suffixes=("", "_tp"))
    assert len(clicks) > 100 and len(joined) == len(clicks)  # one touch each, none missing
    assert (joined.campaign == joined.journey).all()
    assert set(joined.interaction) == {"email", "sms"}
    assert (joined.interaction == joined.channel).all()


def test_held_out_recipients_are_sent_nothing_and_a_stop_ends_the_series(sim):
    m = messages_of(sim)
    held = m[m.event == "held_out"][["journey", "recipient"]]
    assert len(held) > 50
    assert m.merge(held.assign(h=1), on=["journey", "recipient"]).query("event != 'held_out'").empty
    steps = {("welcome", "welcome-1"): 0, ("welcome", "welcome-2"): 1, ("welcome", "welcome-3"): 2}
    w = m[m.journey == "welcome"].assign(n=lambda f: [steps[(j, s)] for j, s in zip(f.journey, f.step, strict=True)])
    stops = w[(w.event.isin(["unsubscribed", "complained"])) | (w.bounce_type == "hard")]
    first_stop = stops.groupby("person").n.min()
    later = w[w.event == "sent"].assign(stop=lambda f: f.person.map(first_stop)).dropna(subset=["stop"])
    assert len(first_stop) > 10 and (later.n <= later.stop).all()


def test_messages_show_machine_opens_bounces_and_sms_failures(sim):
    m = messages_of(sim)
    events = set(m.event)
    assert events == {"sent", "delivered", "bounced", "opened", "clicked", "unsubscribed", "complained",
                      "undelivered", "held_out"} - ({"complained"} - events)  # complaints are rare
    opens = m[m.event == "opened"]
    assert (opens.channel == "email").all() and opens.user_agent.str.contains("GoogleImageProxy").any()
    assert set(m[m.event == "bounced"].bounce_type) == {"hard", "soft"}
    assert (m[m.event == "undelivered"].channel == "sms").all()
    assert m.ts.max() < pd.Timestamp(END + dt.timedelta(days=1), tz="UTC")


def test_without_messages_the_data_is_what_it_was_and_the_journeys_have_no_lift_without_effect(tmp_path):
    plain = simulate(tmp_path / "plain", persons=2000, seed=3, end=END, messages=False)
    assert "messages" not in plain.files
    sim = simulate(tmp_path / "with", persons=2000, seed=3, end=END)
    tp = read(sim, "touchpoints").to_pandas()
    mine = tp.campaign.fillna(tp.utm_campaign).isin(["welcome", "cart_abandon"]) & tp.interaction.isin(
        ["email", "sms"]) & ~tp.source.fillna(tp.utm_source).isin(["newsletter"])
    clicks = (messages_of(sim).event == "clicked").sum()
    assert clicks > 0 and sim.touchpoints == plain.touchpoints + clicks  # the clicks, and only them, added
    lift = read(sim, "messages_truth").to_pandas()
    assert lift.incremental_conversions.sum() > 0 and mine.sum() >= clicks
    # the sales among them, which the report's orders are (a lead is no order): fewer, never more
    assert 0 < lift.incremental_orders.sum() <= lift.incremental_conversions.sum()
    dead = tuple(dataclasses.replace(c, beta=0.0) if c.name in ("email", "sms") else c for c in CHANNELS)
    none = simulate(tmp_path / "dead", persons=2000, seed=3, end=END, channels=dead)
    assert read(none, "messages_truth").to_pandas().incremental_conversions.abs().sum() == 0


def test_the_email_truth_holds_its_journeys_and_is_the_world_without_email(sim, tmp_path):
    truth = read(sim, "truth").to_pandas()
    without = simulate(tmp_path / "no-email", persons=3000, seed=5, end=END, off="email")
    sent = read(without, "messages").to_pandas().query("event != 'held_out'")
    assert set(sent.channel) == {"sms"}  # the entrants are the same; no email goes out
    gained = truth[truth.channel == "email"].incremental_conversions.sum()
    assert gained > 0 and without.conversions == sim.conversions - gained
    lift = read(sim, "messages_truth").to_pandas()  # the journeys' orders are their sales: leads left out
    assert 0 < lift.incremental_orders.sum() < lift.incremental_conversions.sum()


def test_the_crm_adds_identifiers_and_changes_no_draw(sim, tmp_path):
    plain = simulate(tmp_path / "plain", persons=3000, seed=5, end=END, crm=False)
    assert "crm" not in plain.files
    for table in ("touchpoints", "conversions", "identities", "messages"):
        t = read(sim, table)
        with_crm = t.drop_columns([c for c in ("email", "customer_id") if c in t.column_names])
        assert with_crm.equals(read(plain, table)), table  # same rows, draw for draw


def test_crm_customers_are_the_account_holders_written_as_people_write(sim):
    from parcours.contract import identifiers

    crm = read(sim, "crm").to_pandas()
    truth = read(sim, "crm_truth").to_pandas().set_index("customer_id").person
    assert crm.customer_id.is_unique and set(crm.customer_id) == set(truth.index)
    emails = crm.email.dropna().map(identifiers.normal_email)
    assert (emails == crm.loc[emails.index, "customer_id"].map(lambda c: f"client{truth[c]}@example.com")).all()
    assert crm.email.isna().mean() < 0.1 and (crm.email.dropna() != emails).any()  # some typed with capitals
    phones = crm.phone.dropna().map(lambda p: identifiers.normal_phone(p, "FR"))
    assert phones.notna().all() and phones.is_unique and 0.5 < len(phones) / len(crm) < 0.7
    conv = read(sim, "conversions").to_pandas()
    users = conv.user_id.dropna().str[1:].astype(int)
    account = set(truth)  # every site account is a CRM customer
    assert set(users) <= account
    offline = conv[(conv.origin != "online") & conv.user_id.notna()]
    assert (offline.customer_id.map(truth) == offline.user_id.str[1:].astype(int)).all()  # the loyalty card
    assert conv[conv.origin == "online"].email.notna().all() and conv[conv.origin == "online"].customer_id.isna().all()
    logins = read(sim, "identities").to_pandas()
    assert (logins.email.map(identifiers.normal_email) == "client" + logins.user_id.str[1:] + "@example.com").all()


def test_nothing_simulated_happens_after_now(tmp_path):
    """Issue 28.9: touchpoints ran to 23:59 today and sends into the future, which ingest
    accepted and the real-time summary counted. The period ends yesterday; `end` must be over."""
    today = dt.datetime.now(dt.UTC).date()
    out = simulate(tmp_path / "now", persons=300, seed=4, days=20)
    midnight = dt.datetime.combine(today, dt.time())
    for table in ("touchpoints", "conversions", "messages"):
        last = pc.max(pq.read_table(out.files[table], columns=["ts"]).column("ts")).as_py()
        assert last is not None and pd.Timestamp(last).tz_localize(None) < pd.Timestamp(midnight), table
    for end in (today, today + dt.timedelta(days=3)):
        with pytest.raises(ValueError, match=f"end {end} is not before today"):
            simulate(tmp_path / "later", persons=300, seed=4, days=20, end=end)


def test_the_same_seed_writes_the_same_data_in_any_process(tmp_path):
    """Python's string hashes change from one process to the next: nothing the simulator draws
    may follow a set's order (the messaging journeys' campaigns did)."""
    import subprocess
    import sys

    import pyarrow.parquet as pq

    for seed in ("1", "4"):  # two seeds whose sets order {"email", "sms"} apart
        subprocess.run([sys.executable, "-m", "parcours.faces.cli", "simulate", "--persons", "300", "--seed", "5",
                        "--end", "2025-03-01", "--out", str(tmp_path / seed)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
    for path in sorted((tmp_path / "1").glob("*.parquet")):
        assert pq.read_table(path).equals(pq.read_table(tmp_path / "4" / path.name)), path.name
