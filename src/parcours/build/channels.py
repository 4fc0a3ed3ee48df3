"""Channel classification: config rules compiled to Ibis expressions, evaluated in the engine.

Fills channel/source/campaign for touches that do not carry them (from utm_* and referrer),
then derives media plan, virtual sub-channel, channel group and funnel stage. Values that
stay unknown read "(none)", as analytics tools show them, so drill-downs have no null rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ibis
import ibis.expr.types as ir

from parcours.contract.config import Condition, Config, Rule, template_field
from parcours.contract.schema import NONE

INPUTS = ("channel", "source", "campaign", "media_plan", "funnel_stage", "utm_source",
          "utm_medium", "utm_campaign", "referrer", "url", "interaction", "device")
OUTPUTS = ("channel", "source", "campaign", "media_plan", "sub_channel", "channel_group",
           "funnel_stage")


def classify(tp: ir.Table, config: Config) -> ir.Table:
    """Touchpoints with channel, source, campaign, media_plan, sub_channel, channel_group,
    funnel_stage filled in.

    Rules run once per distinct combination of the fields they read (a few thousand, where
    touches are millions), and the answers are joined back (NULL matching NULL).
    """
    combos = tp.select(*INPUTS).distinct()
    keyed = combos.mutate(**{f"_in_{k}": combos[k] for k in INPUTS})
    labels = _classify_rows(keyed, config)
    labels = labels.select(*(f"_in_{k}" for k in INPUTS), **{f"_out_{k}": labels[k] for k in OUTPUTS})
    j = tp.join(labels, [tp[k].identical_to(labels[f"_in_{k}"]) for k in INPUTS])
    return j.select(*(c for c in tp.columns if c not in OUTPUTS),
                    **{k: j[f"_out_{k}"] for k in OUTPUTS})


def channel_only(tp: ir.Table, config: Config) -> ir.Table:
    """Touchpoints with their `channel` by the rules, and nothing else classified: what the
    real-time summary needs, for a few touches (a fraction of `classify` to compile)."""
    t = _ruled(tp, config)
    return t.mutate(channel=_pick(t, config.channel_rules, "channel", ibis.literal(config.default_channel), {}))\
        .drop("referrer_host", "utm", "_rule")


def _ruled(tp: ir.Table, config: Config) -> ir.Table:
    """Which channel rule classifies each row, `_rule` (-1: it carries its channel;
    len(rules): none matched), found once; channel, source and campaign then look it up."""
    tp = tp.mutate(
        referrer_host=tp.referrer.lower().re_extract(r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?([^/:?#]+)", 1).nullif(""),
        utm=tp.utm_source.coalesce(tp.utm_medium, tp.utm_campaign),
    )
    has_channel = tp.channel.strip().nullif("").notnull()
    rules = config.channel_rules
    return tp.mutate(_rule=ibis.cases((has_channel, -1), *[(_matches(tp, r), i) for i, r in enumerate(rules)],
                                      else_=len(rules)))


def _pick(tp: ir.Table, rules: tuple[Rule, ...], key: str, default: ir.Value, fallback: dict) -> ir.Value:
    own = tp.channel.strip() if key == "channel" else tp[key]
    return ibis.cases((tp._rule == -1, own),
                      *[(tp._rule == i, _output(tp, r, key, fallback)) for i, r in enumerate(rules)],
                      else_=default)


def _classify_rows(tp: ir.Table, config: Config) -> ir.Table:
    tp = _ruled(tp, config)
    rules = config.channel_rules
    # What a rule does not set comes from the row itself: its own value, else its utm.
    fallback = {"source": tp.source.coalesce(tp.utm_source, tp.referrer_host),
                "campaign": tp.campaign.coalesce(tp.utm_campaign)}
    tp = tp.mutate(channel=_pick(tp, rules, "channel", ibis.literal(config.default_channel), fallback),
                   source=_pick(tp, rules, "source", fallback["source"], fallback),
                   campaign=_pick(tp, rules, "campaign", fallback["campaign"], fallback))
    tp = tp.mutate(source=_or_none(tp.source), campaign=_or_none(tp.campaign))

    media = _first(tp, config.media_plan_rules, lambda r: ibis.literal(r.outputs["name"]),
                   ibis.null("string"))
    sub_rules = [Rule(r.when + (Condition("channel", "in", (r.outputs["channel"].lower(),)),),
                      r.outputs) for r in config.sub_channel_rules]
    sub = _first(tp, sub_rules, lambda r: ibis.literal(r.outputs["name"]), tp.channel)
    group = tp.channel.substitute(config.channel_groups, else_="other") \
        if config.channel_groups else ibis.literal("other")
    stage = _first(tp, config.funnel_rules, lambda r: ibis.literal(r.outputs["stage"]),
                   ibis.null("string"))
    return tp.mutate(
        media_plan=_or_none(tp.media_plan.coalesce(media)),
        sub_channel=sub,
        channel_group=group,
        funnel_stage=tp.funnel_stage.strip().lower().nullif("").coalesce(stage),
    ).drop("referrer_host", "utm", "_rule")


def _first(tp: ir.Table, rules: Sequence[Rule], value: Callable[[Rule], ir.Value], default: ir.Value) -> ir.Value:
    """The value of the first rule whose conditions all hold (rules are ordered)."""
    if not rules:
        return default
    return ibis.cases(*[(_matches(tp, r), value(r)) for r in rules], else_=default)


def _matches(tp: ir.Table, rule: Rule) -> ir.BooleanValue:
    return ibis.and_(*(_condition(tp, c) for c in rule.when)) if rule.when else ibis.literal(True)


def _condition(tp: ir.Table, c: Condition) -> ir.BooleanValue:
    col = tp[c.field].cast("string")
    if c.op == "present":
        present = col.strip().nullif("").notnull()
        return present if c.value else ~present
    if c.op == "matches":
        return col.re_search(c.value).fill_null(False)
    return col.lower().strip().isin(c.value).fill_null(False)


def _output(tp: ir.Table, rule: Rule, key: str, fallback: dict) -> ir.StringValue:
    text = rule.outputs.get(key)
    if key == "channel":
        return ibis.literal(text)
    if text is None:
        return fallback[key]
    ref = template_field(text)
    return tp[ref].cast("string") if ref else ibis.literal(text)


def _or_none(col: ir.StringValue) -> ir.StringValue:
    return col.strip().nullif("").fill_null(NONE)
