"""The words a person reads in a report, in English and French (docs/architecture.md, "Reports").

Reports compute with keys (`paid_search`, `last_touch_conversions`); the faces show words. Here,
once: the chart texts (`FRENCH`), the names of values (`VALUES`: channels, devices, origins,
roles, stages...), every table and totals column with its unit (`COLUMNS`, and the model
columns of model comparison from the model registry) and the warnings (`MESSAGES`).
`Words(lang, config)` answers all of them for one language, with the channel names of the
workspace config over the defaults. Tests fail on a chart text, a column or a warning missing
here.
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import TYPE_CHECKING, Any, Literal

from parcours.attribution.registry import MODELS
from parcours.contract.query import LANGUAGES, SPECS, Text
from parcours.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Iterable

    from parcours.contract.config import Config

FRENCH = {
    # axes, legends, subplot titles, annotations
    "observed vs predicted rate, by decile": "taux observé vs prédit, par décile",
    "next best channel": "meilleur prochain levier",
    "perfectly calibrated": "calibration parfaite", "the model": "le modèle", "decile": "décile",
    "predicted": "prédit", "observed": "observé", "persons": "personnes",
    "assisted / last-touch conversions": "conversions assistées / au dernier contact",
    "as many assists as last-touch conversions": "autant d'assistances que de conversions au dernier contact",
    "attributed conversions": "conversions attribuées",
    "conversions": "conversions",
    "conversions from this value alone": "conversions venues de cette seule valeur",
    "converting device": "appareil de conversion",
    "days": "jours",
    "days from first touch to conversion": "jours du premier contact à la conversion",
    "days from one stage to the next": "jours d'une étape à la suivante",
    "distinct values": "valeurs distinctes",
    "first-touch device": "appareil du premier contact",
    "journeys reaching each stage": "parcours atteignant chaque étape",
    "last-touch conversions": "conversions au dernier contact",
    "model": "modèle",
    "role": "rôle",
    "share of engagement (pageviews + minutes)": "part de l'engagement (pages vues + minutes)",
    "touches before conversion": "contacts avant la conversion",
    "step": "étape",
    "day": "jour",
    "channel": "levier",
    # fixed series
    "assister": "assistant",
    "closer": "finisseur",
    "introducer": "initiateur",
    "cumulative share": "part cumulée",
    "journeys": "parcours",
    "median days": "jours (médiane)",
    "p90 days": "jours (90e centile)",
    "share of engagement": "part de l'engagement",
    # tooltip lines ("label: value")
    "assisted per last-touch conversion": "assistées par conversion au dernier contact",
    "share": "part",
    "share of conversions": "part des conversions",
    "first touch on": "premier contact sur",
    "converted on": "conversion sur",
    "median": "médiane",
    "90th percentile": "90e centile",
    "revenue": "chiffre d'affaires",
    "value": "valeur",
    "cost per conversion": "coût par conversion",
    "revenue per cost": "CA / coût",
    "change vs last touch": "écart au dernier contact",
    "cumulative": "cumulé",
    "attributed revenue": "chiffre d'affaires attribué",
    "% change vs last touch": "écart au dernier contact (%)",
    "conversions minus the counterfactual model's": "conversions moins celles du modèle contrefactuel",
    "Truth (simulated)": "Vérité (simulée)",
    "yes": "oui",
    "no": "non",
    # messaging
    "messages": "messages",
    "step, from the journey's start": "étape, depuis le début du scénario",
    "sent": "envoyés",
    "delivered": "délivrés",
    "opened": "ouverts",
    "clicked": "cliqués",
    "ordered": "suivis d'une commande",
    "messages at each step": "messages à chaque étape",
    "orders: last click vs true lift": "commandes : dernier clic vs vrai effet",
    "last-click orders": "commandes au dernier clic",
    "incremental orders": "commandes incrémentales",
    "orders": "commandes",
}

# Names of values: (English, French). The channels of the rules shipped in the config, named
# only where rows are channels (a source may be called "email"); `[channels] names` in
# parcours.toml names the others, or renames these.
CHANNELS: dict[str, Text] = {
    "paid_search": ("Paid search", "Recherche payante"),
    "organic_search": ("Organic search", "Recherche naturelle"),
    "display": ("Display", "Display"),
    "affiliation": ("Affiliation", "Affiliation"),
    "email": ("Email", "E-mail"),
    "sms": ("SMS", "SMS"),
    "social": ("Social", "Réseaux sociaux"),
    "referral": ("Referral", "Sites référents"),
    "direct": ("Direct", "Accès direct"),
    "other_campaigns": ("Other campaigns", "Autres campagnes"),
}
# Values named wherever they show.
VALUES: dict[str, Text] = {
    **CHANNELS,
    # origins and channels of offline sales
    "store": ("Store", "Magasin"),
    "call_centre": ("Call centre", "Centre d'appels"),
    "online": ("Online", "En ligne"),
    # devices
    "desktop": ("Desktop", "Ordinateur"),
    "mobile": ("Mobile", "Mobile"),
    "tablet": ("Tablet", "Tablette"),
    "other": ("Other device", "Autre appareil"),
    "multi-device": ("Several devices", "Plusieurs appareils"),
    "(no device)": ("(no device)", "(aucun appareil)"),
    # conversion kinds
    "sale": ("Sale", "Vente"),
    "lead": ("Lead", "Lead"),
    "custom": ("Custom", "Autre"),
    # roles, involvement, funnel stages
    "introducer": ("Introducer", "Initiateur"),
    "assister": ("Assister", "Assistant"),
    "closer": ("Closer", "Finisseur"),
    "low": ("Low", "Faible"),
    "medium": ("Medium", "Moyenne"),
    "high": ("High", "Forte"),
    "awareness": ("Awareness", "Découverte"),
    "consideration": ("Consideration", "Considération"),
    "intent": ("Intent", "Intention"),
    "cart": ("Cart", "Panier"),
    "conversion": ("Conversion", "Conversion"),
    # channel groups
    "paid": ("Paid", "Payant"),
    "owned": ("Owned", "Propriétaire"),
    "earned": ("Earned", "Gagné"),
    "offline": ("Offline", "Hors ligne"),
    "(no touch)": ("(no touch)", "(aucun contact)"),
    # a messaging journey's status
    "active": ("Active", "Actif"),
    "paused": ("Paused", "En pause"),
    # the next best channel, and what one touch each would bring
    "none": ("None worth its cost", "Aucun rentable"),
    "recommended": ("Each person's next best channel", "Le meilleur prochain levier de chacun"),
    "current_mix": ("The current mix of paid channels", "Le mix actuel des leviers payants"),
}
CHANNEL_LEVELS = ("channel",)  # the levels whose rows are channels

# One colour per channel on every chart and chip (a colour-blind-safe palette after Tableau 10);
# other values (sources, campaigns, unlisted channels) share a chart's free colours of PALETTE
# (Tableau 20), no two alike while there are colours left.
COLOURS = {"paid_search": "#4e79a7", "display": "#f28e2b", "affiliation": "#e15759", "email": "#76b7b2",
           "sms": "#59a14f", "social": "#edc948", "direct": "#b07aa1", "organic_search": "#ff9da7",
           "referral": "#9c755f", "store": "#2f4b7c", "call_centre": "#8cd17d", "other_campaigns": "#bab0ac",
           "conversion": "#1f3a5f", "(no touch)": "#cbd2d9", "...": "#e5e8eb"}  # "...": a flow's longer paths
PALETTE = ("#4e79a7", "#a0cbe8", "#f28e2b", "#ffbe7d", "#59a14f", "#8cd17d", "#b6992d", "#f1ce63", "#499894",
           "#86bcb6", "#e15759", "#ff9d9a", "#79706e", "#bab0ac", "#d37295", "#fabfd2", "#b07aa1", "#d4a6c8",
           "#9d7660", "#d7b5a6")


def colours(values: Iterable[str]) -> dict[str, str]:
    """The colour of each value one chart shows: a channel's own; the others distinct from every
    colour already drawn (while PALETTE lasts), each by a stable hash among those left."""
    shown = set(values)
    out = {v: COLOURS[v] for v in shown if v in COLOURS}
    free = [c for c in PALETTE if c not in out.values()]
    for v in sorted(shown - out.keys()):
        free = free or list(PALETTE)  # more values than colours: they repeat, as they must
        out[v] = free.pop(int(hashlib.sha1(v.encode()).hexdigest(), 16) % len(free))
    return out


# share: a part of a whole (1 decimal of percent); rate: a probability that may be small (2
# significant digits: 0.032%, so deciles stay apart); points: a difference of two rates, in
# percentage points
Unit = Literal["text", "count", "number", "money", "share", "rate", "points", "pct", "ratio", "days", "hours", "bool",
               "date"]

COLUMNS: dict[str, tuple[str, str, Unit]] = {
    "conversions": ("Conversions", "Conversions", "count"),
    "revenue": ("Revenue", "Chiffre d'affaires", "money"),
    "share": ("Share of conversions", "Part des conversions", "share"),
    "cumulative_share": ("Cumulative share", "Part cumulée", "share"),
    "cumulative_share_touched": ("Cumulative share of the conversions with a touch",
                                 "Part cumulée des conversions avec un contact", "share"),
    "low_volume": ("Low volume", "Faible volume", "bool"),
    "cost": ("Cost", "Coût", "money"),
    "truth_conversions": ("True incremental conversions (simulated)", "Conversions incrémentales vraies (simulées)",
                          "count"),
    "truth_scaled": ("Truth, scaled to the credited conversions", "Vérité, ramenée aux conversions créditées",
                     "count"),
    "truth_vs_counterfactual": ("Truth: difference from counterfactual", "Vérité : écart au contrefactuel", "count"),
    # assists
    "last_touch_conversions": ("Last-touch conversions", "Conversions au dernier contact", "count"),
    "last_touch_value": ("Last-touch revenue", "CA au dernier contact", "money"),
    "assisted_conversions": ("Assisted conversions", "Conversions assistées", "count"),
    "assisted_value": ("Assisted revenue", "CA assisté", "money"),
    "first_touch_conversions": ("First-touch conversions", "Conversions au premier contact", "count"),
    "assisted_last_ratio": ("Assisted per last-touch conversion", "Assistées par conversion au dernier contact",
                            "ratio"),
    "role": ("Role", "Rôle", "text"),
    # cross-device
    "devices": ("Devices used", "Appareils utilisés", "text"),
    "sequence": ("Device sequence", "Séquence d'appareils", "text"),
    "first_device": ("First-touch device", "Appareil du premier contact", "text"),
    "multi_device": ("Multi-device conversions", "Conversions multi-appareils", "count"),
    "multi_device_share": ("Multi-device share", "Part multi-appareils", "share"),
    # top paths
    "path": ("Path", "Parcours", "text"),
    "avg_lag_days": ("Average days to conversion", "Délai moyen (jours)", "days"),
    "avg_length": ("Average touches", "Contacts (moyenne)", "number"),
    "distinct_paths": ("Distinct paths", "Parcours distincts", "count"),
    "step": ("Step", "Étape", "count"),
    "source": ("From", "De", "text"),
    "target": ("To", "Vers", "text"),
    # time lag, path length
    "bucket": ("Days from first touch to conversion", "Jours du premier contact à la conversion", "text"),
    "median_days": ("Median days", "Jours (médiane)", "days"),
    "p90_days": ("Days, 90th percentile", "Jours (90e centile)", "days"),
    "length": ("Touches before conversion", "Contacts avant la conversion", "text"),
    "mean_length": ("Mean touches", "Contacts (moyenne)", "number"),
    "median_length": ("Median touches", "Contacts (médiane)", "number"),
    # engagement
    "touches": ("Touches", "Contacts", "count"),
    "visits": ("Visits", "Visites", "count"),
    "pageviews": ("Pageviews", "Pages vues", "count"),
    "time_on_site_hours": ("Time on site (hours)", "Temps passé (heures)", "hours"),
    "engagement": ("Engagement (pageviews + minutes)", "Engagement (pages vues + minutes)", "number"),
    "journeys": ("Journeys", "Parcours", "count"),
    "engagement_share": ("Share of engagement", "Part de l'engagement", "share"),
    "conversion_rate": ("Conversion rate", "Taux de conversion", "share"),
    "involvement": ("Involvement", "Implication", "text"),
    # mono-device, mono-channel
    "device": ("Device", "Appareil", "text"),
    "conversion_share": ("Share of conversions", "Part des conversions", "share"),
    "revenue_share": ("Share of revenue", "Part du chiffre d'affaires", "share"),
    "mono_device": ("Single device", "Un seul appareil", "bool"),
    "mono_device_conversions": ("Single-device conversions", "Conversions mono-appareil", "count"),
    "mono_device_share": ("Single-device share", "Part mono-appareil", "share"),
    "mono_channel_conversions": ("Single-{level} conversions", "Conversions mono-{level}", "count"),
    "mono_channel_share": ("Single-{level} share", "Part mono-{level}", "share"),
    "share_of_conversions": ("Share of all conversions", "Part de toutes les conversions", "share"),
    "share_of_last_touch": ("Alone / last-touch conversions", "Seul / conversions au dernier contact", "ratio"),
    # velocity
    "stage": ("Stage", "Étape", "text"),
    "next_stage": ("Next stage", "Étape suivante", "text"),
    "reached_next": ("Reaching the next stage", "Atteignant l'étape suivante", "count"),
    "median_days_to_next": ("Median days to the next stage", "Jours jusqu'à l'étape suivante (médiane)", "days"),
    "p90_days_to_next": ("Days to the next stage, 90th percentile", "Jours jusqu'à l'étape suivante (90e centile)",
                         "days"),
    "rate_to_next": ("Rate to the next stage", "Taux de passage", "share"),
    "share_of_first_stage": ("Share of the first stage", "Part de la première étape", "share"),
    "median_days_to_conversion": ("Median days to conversion", "Jours jusqu'à la conversion (médiane)", "days"),
    "p90_days_to_conversion": ("Days to conversion, 90th percentile", "Jours jusqu'à la conversion (90e centile)",
                               "days"),
    # summary
    "date": ("Date", "Date", "date"),
    "channel": ("Channel", "Levier", "text"),
    "journeys_conversions": ("Conversions in the journeys", "Conversions des parcours", "count"),
    "summary_conversions_until_cut": ("Conversions in this summary, up to the D-2 cut",
                                      "Conversions de cette synthèse, jusqu'à la coupure J-2", "count"),
    "difference": ("Difference", "Écart", "share"),
    "measure": ("Measure", "Mesure", "text"),
    # propensity
    "decile": ("Decile of the prediction (10 = highest)", "Décile de la prédiction (10 = le plus haut)", "count"),
    "predicted": ("Predicted conversion rate", "Taux de conversion prédit", "rate"),
    "observed": ("Observed conversion rate", "Taux de conversion observé", "rate"),
    "persons": ("Persons", "Personnes", "count"),
    "auc": ("AUC (held out)", "AUC (période réservée)", "ratio"),
    "log_loss": ("Log loss", "Log loss", "ratio"),
    "brier": ("Brier score", "Score de Brier", "ratio"),
    "calibration_error": ("Calibration error (mean gap between predicted and observed rates, percentage points)",
                          "Erreur de calibration (écart moyen entre taux prédits et observés, en points de "
                          "pourcentage)", "points"),
    "top_decile_lift": ("Top decile lift", "Lift du premier décile", "ratio"),
    "base_rate": ("Base conversion rate", "Taux de conversion de base", "rate"),
    "top_decile_rate": ("Top decile's conversion rate", "Taux de conversion du premier décile", "rate"),
    "persons_scored": ("Persons scored", "Personnes notées", "count"),
    "train_rows": ("Training rows", "Lignes d'apprentissage", "count"),
    "held_out_rows": ("Held-out persons", "Personnes de la période réservée", "count"),
    "training_cutoffs": ("Training cut-offs", "Dates de coupure d'apprentissage", "count"),
    "horizon_days": ("Horizon (days)", "Horizon (jours)", "count"),
    "mean_gain": ("Mean gain in probability", "Gain moyen de probabilité", "rate"),
    "reliability": ("Reliability of the differences between persons", "Fiabilité des écarts entre personnes",
                    "share"),
    "cost_per_touch": ("Cost per touch", "Coût par contact", "money"),
    "mix": ("Share of the current mix", "Part du mix actuel", "share"),
    "policy": ("One touch each, chosen by", "Un contact chacun, choisi selon", "text"),
    "persons_touched": ("Persons touched", "Personnes contactées", "count"),
    "cost_per_conversion": ("Cost per expected conversion", "Coût par conversion attendue", "money"),
    "best": ("The better choice (lower cost per conversion)", "Le meilleur choix (coût par conversion plus bas)",
             "bool"),
    # messaging
    "journey": ("Journey", "Scénario", "text"),
    "recipient": ("Recipient", "Destinataire", "text"),
    "status": ("Status", "Statut", "text"),
    "sends": ("Sends", "Envois", "count"),
    "deliveries": ("Deliveries", "Délivrés", "count"),
    "delivery_rate": ("Delivery rate", "Taux de délivrabilité", "share"),
    "bounces": ("Bounces", "Rebonds", "count"),
    "hard_bounces": ("Hard bounces (address invalid)", "Rebonds durs (adresse invalide)", "count"),
    "soft_bounces": ("Soft bounces (temporary)", "Rebonds temporaires", "count"),
    "bounce_rate": ("Bounce rate", "Taux de rebond", "share"),
    "undelivered": ("Undelivered (SMS)", "Non délivrés (SMS)", "count"),
    "undelivered_rate": ("Undelivered rate (SMS)", "Taux de non-délivrance (SMS)", "share"),
    "opened": ("Opened", "Ouverts", "count"),
    "total_opens": ("Total opens", "Ouvertures", "count"),
    "open_rate": ("Open rate", "Taux d'ouverture", "share"),
    "machine_opens": ("Machine opens (privacy proxies)", "Ouvertures automatiques (proxys)", "count"),
    "clicked": ("Clicked", "Cliqués", "count"),
    "total_clicks": ("Total clicks", "Clics", "count"),
    "click_rate": ("Click rate", "Taux de clic", "share"),
    "clicks_per_unique_opens": ("Clicks per unique opens", "Clics par ouverture unique", "share"),
    "unsubscribed": ("Unsubscribed", "Désabonnés", "count"),
    "unsubscribe_rate": ("Unsubscribe rate", "Taux de désabonnement", "share"),
    "abuse_reports": ("Abuse reports", "Plaintes pour spam", "count"),
    "abuse_rate": ("Abuse rate", "Taux de plainte", "share"),
    "first_sent": ("First sent", "Premier envoi", "date"),
    "orders": ("Orders (last click)", "Commandes (dernier clic)", "count"),
    "last_click_orders": ("Orders (last click)", "Commandes (dernier clic)", "count"),
    "order_rate": ("Order rate", "Taux de commande", "share"),
    "average_order_revenue": ("Average order revenue", "Panier moyen", "money"),
    "revenue_per_recipient": ("Revenue per recipient", "CA par destinataire", "money"),
    "entrants": ("Entrants sent", "Entrants ayant reçu", "count"),
    "held_out": ("Held out", "Groupe témoin", "count"),
    "orders_per_entrant": ("Orders per entrant sent", "Commandes par entrant ayant reçu", "share"),
    "orders_per_held_out": ("Orders per entrant held out", "Commandes par entrant témoin", "share"),
    "incremental_orders": ("Incremental orders (true lift)", "Commandes incrémentales (vrai effet)", "number"),
    "incremental_orders_low": ("Incremental orders, low", "Commandes incrémentales, bas", "number"),
    "incremental_orders_high": ("Incremental orders, high", "Commandes incrémentales, haut", "number"),
    "incremental_revenue": ("Incremental revenue (true lift)", "CA incrémental (vrai effet)", "money"),
    "incremental_revenue_low": ("Incremental revenue, low", "CA incrémental, bas", "money"),
    "incremental_revenue_high": ("Incremental revenue, high", "CA incrémental, haut", "money"),
    "relative_lift": ("Lift vs held out", "Effet vs groupe témoin", "share"),
    "true_incremental_orders": ("True incremental orders (simulated)", "Commandes incrémentales vraies (simulées)",
                                "number"),
    "true_incremental_revenue": ("True incremental revenue (simulated)", "CA incrémental vrai (simulé)", "money"),
}

# A result's secondary tables.
TABLES: dict[str, Text] = {
    "next_best_channel": ("Next best channel", "Meilleur prochain levier"),
    "one_touch_each": ("Expected incremental conversions of one touch per person",
                       "Conversions incrémentales attendues d'un contact par personne"),
    "all_measures": ("Every measure of every model", "Toutes les mesures de chaque modèle"),
    "sequences": ("Top device sequences", "Principales séquences d'appareils"),
    "first_x_converting": ("First-touch device × converting device", "Appareil du premier contact × de conversion"),
    "by_row": ("By row", "Par ligne"),
    "flow": ("Flow of the first steps", "Flux des premières étapes"),
    "by_first_touch": ("By first touch", "Par premier contact"),
    "involvement": ("Journeys by involvement", "Parcours par implication"),
    "by_entry": ("By entry point", "Par point d'entrée"),
    "lift": ("True lift: sent vs held out (95% interval)", "Vrai effet : envoyés vs groupe témoin (intervalle à 95 %)"),
    "in_the_journey": ("Each step in the customer journey: credit of its clicks by model",
                       "Chaque étape dans le parcours client : crédit de ses clics par modèle"),
}

# Model comparison's columns are `<model>_<measure>`.
MEASURES: dict[str, tuple[str, str, Unit]] = {
    "conversions": ("conversions", "conversions", "count"),
    "value": ("revenue", "chiffre d'affaires", "money"),
    "vs_last_pct": ("% vs last touch", "% vs dernier contact", "pct"),
    "vs_counterfactual": ("difference from counterfactual", "écart au contrefactuel", "count"),
    "cpa": ("cost per conversion", "coût par conversion", "money"),
    "roas": ("revenue per cost", "CA / coût", "ratio"),
}

# Warnings: a key, and the text in each language with {named} parts.
MESSAGES: dict[str, Text] = {
    "no_match": ("No conversion matches this period and these filters: every total is 0.",
                 "Aucune conversion ne correspond à cette période et à ces filtres : tous les totaux sont à 0."),
    "cut": ("Period cut at {day} (D-2): today's and yesterday's data is incomplete and never reported.",
            "Période arrêtée au {day} (J-2) : les données d'aujourd'hui et d'hier sont incomplètes et jamais "
            "présentées."),
    "after_last_day": ("The period starts after the last reported day ({day}): nothing to report.",
                       "La période commence après le dernier jour présenté ({day}) : rien à présenter."),
    "not_computed": ("{rows} row(s) could not be computed for {columns} (a division by 0): shown empty.",
                     "{rows} ligne(s) n'ont pu être calculées pour {columns} (division par 0) : laissées vides."),
    "low_volume": ("Low volume: {total} conversions in this result (under {limit}); figures may not be "
                   "significant.",
                   "Faible volume : {total} conversions dans ce résultat (moins de {limit}) ; les chiffres "
                   "peuvent ne pas être significatifs."),
    "low_rows_of": ("{rows} row(s) under {limit} {column}, flagged low volume: {of} {values}.",
                    "{rows} ligne(s) sous {limit} {column}, signalées en faible volume : {of} {values}."),
    "low_rows": ("{rows} row(s) under {limit} {column}, flagged low volume: {values}.",
                 "{rows} ligne(s) sous {limit} {column}, signalées en faible volume : {values}."),
    "cost_filtered": ("Cost, cost per conversion and revenue per cost are left out: spend is known by day, "
                      "channel, source and campaign, and cannot follow the {filters} filter.",
                      "Coût, coût par conversion et chiffre d'affaires par coût non affichés : les dépenses sont "
                      "connues par jour, levier, source et campagne, et ne peuvent pas suivre le filtre {filters}."),
    "cost_level": ("Cost, cost per conversion and revenue per cost are left out: spend is known by day, "
                   "channel, source and campaign, not by {level}.",
                   "Coût, coût par conversion et chiffre d'affaires par coût non affichés : les dépenses sont "
                   "connues par jour, levier, source et campagne, pas par {level}."),
    "rates_left_out": ("Rates need journeys without a conversion, which a {filters} filter cannot select: "
                       "rates left out.",
                       "Les taux demandent les parcours sans conversion, qu'un filtre {filters} ne peut pas "
                       "sélectionner : taux non calculés."),
    "no_messages": ("No message matches this journey, step and period: load messages with `parcours ingest "
                    "messages`, or widen the selection.",
                    "Aucun message ne correspond à ce scénario, cette étape et cette période : chargez des messages "
                    "(`parcours ingest messages`) ou élargissez la sélection."),
    "orders_need_build": ("Orders, true lift and credit need conversions and a build (`parcours build`): "
                          "engagement only.",
                          "Les commandes, le vrai effet et le crédit demandent des conversions et une construction "
                          "(`parcours build`) : engagement seulement."),
    "first_rows": ("The first {rows} of {total} rows are shown: CSV and XLSX have them all.",
                   "Les {rows} premières lignes sur {total} sont affichées : CSV et XLSX les ont toutes."),
    "no_predictions": ("No predictions yet: `parcours build` makes them ([predict] enabled) once there are enough "
                       "conversions to learn from.",
                       "Pas encore de prédictions : `parcours build` les fait ([predict] enabled) dès qu'il y a assez "
                       "de conversions pour apprendre."),
    "stale_predictions": ("These predictions are as of the build cut at {day}, not of the last build: `parcours "
                          "predict fit` (or a build with [predict] enabled) makes them again.",
                          "Ces prédictions datent de la construction coupée au {day}, pas de la dernière : `parcours "
                          "predict fit` (ou une construction avec [predict] enabled) les refait."),
    "lift_signs": ("The incremental orders and revenue go opposite ways: the revenue's 95% interval ({low} to {high}) "
                   "holds 0, so this holdout cannot tell the journeys' revenue effect from none (big orders are "
                   "rare, and a few of them in either group swing the revenue).",
                   "Les commandes et le chiffre d'affaires incrémentaux vont en sens contraires : l'intervalle à 95 % "
                   "du chiffre d'affaires ({low} à {high}) contient 0, ce groupe témoin ne distingue donc pas l'effet "
                   "des scénarios sur le chiffre d'affaires d'une absence d'effet (les grosses commandes sont rares, "
                   "et quelques-unes dans un groupe ou l'autre font basculer le chiffre d'affaires)."),
    "lift_signs_real": ("The incremental orders and revenue go opposite ways, and the revenue's 95% interval ({low} "
                        "to {high}) leaves out 0: the journeys bring orders of smaller amounts than the held-out "
                        "group's.",
                        "Les commandes et le chiffre d'affaires incrémentaux vont en sens contraires, et "
                        "l'intervalle à 95 % du chiffre d'affaires ({low} à {high}) exclut 0 : les scénarios "
                        "amènent des commandes de plus petit montant que celles du groupe témoin."),
    "no_holdout": ("No holdout group in these journeys: the true lift needs entrants held out at random "
                   "(`held_out` events).",
                   "Pas de groupe témoin dans ces scénarios : le vrai effet demande des entrants tenus à l'écart "
                   "au hasard (événements `held_out`)."),
    "summary_gap": ("The Customer Journey reports count {built} conversions where this summary counts {raw} "
                    "({diff}): rebuild the journeys (`parcours build`).",
                    "Les rapports Customer Journey comptent {built} conversions, cette synthèse {raw} ({diff}) : "
                    "reconstruisez les parcours (`parcours build`)."),
}


class Column(str):
    """A column's key inside a message: said by its label."""


class Columns(tuple):
    """Columns' keys inside a message: said by their labels, joined."""


class Level(str):
    """A report level inside a message (device, media plan): said by the level's label."""


class Fields(tuple):
    """Query fields inside a message (the filters applied): said by their labels, joined."""


class Values(tuple):
    """A result's row values inside a message (the rows flagged), said by their names:
    (level, values, how many more there are)."""


class Message(str):
    """A warning: the English text (so it reads, compares and serialises as before), with the
    key and the parts it was made from, to be said again in another language."""

    key: str
    parts: dict[str, Any]

    def __new__(cls, key: str, **parts: Any) -> Message:
        text = super().__new__(cls, MESSAGES[key][0].format(**{k: _part(v, "en") for k, v in parts.items()}))
        text.key, text.parts = key, parts
        return text

    def said(self, lang: str) -> str:
        template = MESSAGES[self.key][LANGUAGES.index(lang)]
        return template.format(**{k: _part(v, lang) for k, v in self.parts.items()})


def _part(value: Any, lang: str) -> str:
    i = LANGUAGES.index(lang)
    if isinstance(value, Column):
        return Words(lang).column(value)[0].lower()
    if isinstance(value, Columns):
        return ", ".join(Words(lang).column(c)[0] for c in value)
    if isinstance(value, Level):
        return SPECS["level"].value_labels[value][i].lower()
    if isinstance(value, Fields):
        return ", ".join(SPECS[f].label[i].lower() for f in value)
    if isinstance(value, Values):
        level, values, more = value
        names = Words(lang).names(level)
        said = ", ".join(str(name_of(v, names)) for v in values)
        other = f" et {more:,} autre{'s' if more > 1 else ''}"
        return said + ((f" and {more:,} more" if lang == "en" else other) if more else "")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return text.replace(",", "\u202f").replace(".", ",") if lang == "fr" else text


class Words:
    """Every word of a report in one language; channel names from the workspace config."""

    def __init__(self, lang: str, config: Config | None = None):
        if lang not in LANGUAGES:
            raise InvalidInput(f"lang must be one of {', '.join(LANGUAGES)}")
        self.lang, self.i = lang, LANGUAGES.index(lang)
        self.currency = config.reports.currency if config else "EUR"
        self.values = {**VALUES, **(config.channel_names if config else {})}
        self.channels = set(CHANNELS) | set(config.channel_names if config else ())
        self.fixed = {**{spec.label[0]: spec.label[1] for spec in MODELS.values()}, **FRENCH} if lang == "fr" else {}

    def text(self, text: Any) -> Any:
        """A chart's fixed text (an axis title, a legend, a series, a tooltip label)."""
        return self.fixed.get(text, text) if isinstance(text, str) else text

    def names(self, level: str | None) -> dict[str, str]:
        """value -> name, for every named value a result at `level` may show (channel names
        only where rows are channels)."""
        skip = set() if level in CHANNEL_LEVELS or level is None else self.channels
        return {k: v[self.i] for k, v in self.values.items() if k not in skip and v[self.i] != k}

    def column(self, name: str, level: str = "channel") -> tuple[str, Unit]:
        """A column's label (with its currency when it is money) and unit."""
        if name == "row":
            return SPECS["level"].value_labels[level][self.i], "text"
        if name in COLUMNS:
            entry = COLUMNS[name]
            label, unit = entry[self.i], entry[2]
            if "{level}" in label:  # said of the rows' level: single-channel, single-source...
                label = label.format(level=SPECS["level"].value_labels[level][self.i].lower())
        elif (model := _model_column(name)) is not None:
            spec, measure = model
            what = MEASURES[measure]
            sep = " : " if self.lang == "fr" else ": "  # French sets a space before a colon
            label, unit = f"{spec.label[self.i]}{sep}{what[self.i]}", what[2]
        elif name in self.values:  # a crosstab's columns are values (devices, origins)
            return self.values[name][self.i], "count"
        else:
            return name.replace("_", " "), "text"
        return (f"{label} ({self.currency})" if unit == "money" else label), unit

    def columns(self, names: list[str], level: str) -> dict[str, dict[str, str]]:
        """name -> label (money with its currency), short (without: the number says it) and unit."""
        out = {}
        for name in names:
            label, unit = self.column(name, level)
            out[name] = {"label": label, "short": label.removesuffix(f" ({self.currency})"), "unit": unit}
        return out

    def tables(self, names: list[str]) -> dict[str, str]:
        """The titles of a result's secondary tables."""
        return {n: TABLES[n][self.i] if n in TABLES else n.replace("_", " ") for n in names}


def _model_column(name: str) -> tuple[Any, str] | None:
    from parcours.attribution import catalogue  # noqa: F401  (the models register as it loads)

    for measure in MEASURES:
        model = name.removesuffix(f"_{measure}")
        if model != name and model in MODELS:
            return MODELS[model], measure
    return None


def tooltip(title: str, *lines: tuple[str, str]) -> str:
    """A hovertemplate as `translate_figure` reads it: a title line, then "label: value" lines
    whose labels are chart texts (so said in the page's language)."""
    return "<br>".join([title, *(f"{label}: {value}" for label, value in lines)]) + "<extra></extra>"


# "label: value" lines of a tooltip, and the parts of a path ("a > b") or a flow node ("2. a")
_LINE = re.compile(r"^(?P<label>[^%:<>]+?)(?P<rest>: .*|)$")
_NODE = re.compile(r"^(?P<step>\d+\+?)\. (?P<value>.*)$")


def name_of(value: Any, names: dict[str, str]) -> Any:
    """A value by its name, and each part of a path ("a > b"), a step ("a → b") or a flow
    node ("2. a") by theirs."""
    if not isinstance(value, str):
        return value
    if value in names:
        return names[value]
    for sep in (" > ", " → "):
        if sep in value:
            return sep.join(names.get(p, p) for p in value.split(sep))
    node = _NODE.match(value)
    if node and node["value"] in names:
        return f"{node['step']}. {names[node['value']]}"
    return value


def translate_figure(figure: dict, lang: str, words: Words | None = None, level: str | None = None) -> dict:
    """The figure (its JSON, as `Figure.to_plotly_json` writes it), translated in place into
    `lang`: fixed texts (axes, legends, titles, annotations, series, tooltip labels) in that
    language, values (channels, devices, stages) by their names, numbers with the language's
    separators. English figures get their value names only. A dict, not a Figure: a Figure
    checks every property it is given, and translating a copy of it cost more than the report."""
    words = words or Words(lang)
    names = {k: html.escape(v, quote=False) for k, v in words.names(level).items()}  # drawn as text

    def value(v: Any) -> Any:
        return name_of(v, names)

    def hover(template: str) -> str:
        lines = []
        for line in template.split("<br>"):
            m = _LINE.match(line)
            rest = " " + m["rest"] if m and lang == "fr" and m["rest"].startswith(":") else m and m["rest"]
            lines.append(words.text(m["label"]) + rest if m and not line.startswith("%") else line)
        return "<br>".join(lines)

    def titled(part: dict | None) -> None:
        title = (part or {}).get("title")
        if isinstance(title, dict) and title.get("text"):
            title["text"] = words.text(title["text"])

    def hovered(part: dict) -> None:
        if isinstance(part.get("hovertemplate"), str):
            part["hovertemplate"] = hover(part["hovertemplate"])

    layout = figure.setdefault("layout", {})
    if lang == "fr":
        layout["separators"] = ", "  # decimal comma, a space between thousands
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            titled(axis)
            if axis.get("categoryarray") is not None:
                axis["categoryarray"] = [value(v) for v in axis["categoryarray"]]
    titled(layout.get("legend"))
    for note in layout.get("annotations") or ():
        if note.get("text"):
            note["text"] = words.text(note["text"])
    for trace in figure.get("data", ()):
        if trace.get("name"):
            trace["name"] = value(words.text(trace["name"]))
        for key in ("x", "y", "labels", "customdata"):
            values = trace.get(key)
            if isinstance(values, list) and values and isinstance(values[0], str) and trace.get("type") != "table":
                trace[key] = [value(v) for v in values]
        hovered(trace)
        if trace.get("type") == "sankey":
            node = trace.setdefault("node", {})
            node["label"] = [value(v) for v in node.get("label") or ()]
            hovered(node)
            hovered(trace.get("link") or {})
    return figure

