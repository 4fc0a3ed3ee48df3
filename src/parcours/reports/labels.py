"""The words charts draw, in French: axis titles, legends, subplot titles, annotations and the
names of fixed series (docs/architecture.md, "Reports").

Reports build their figures in English; `translate_figure(figure, "fr")` swaps every such text
for its French, so a French page draws French charts. Data values (channel names) stay as
they are. A test fails when a chart draws a text missing here.
"""

from __future__ import annotations

from typing import Any

from parcours.attribution.registry import MODELS

FRENCH = {
    # axes, legends, subplot titles, annotations
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
    # fixed series
    "assister": "assistant",
    "closer": "finisseur",
    "introducer": "initiateur",
    "cumulative share": "part cumulée",
    "journeys": "parcours",
    "median days": "jours (médiane)",
    "p90 days": "jours (90e centile)",
    "share of engagement": "part de l'engagement",
}


def translate_figure(figure: Any, lang: str) -> Any:
    """The figure with its fixed texts in `lang` (English figures are returned as they are);
    model series are named by the model registry's labels, which carry their French."""
    if lang == "en":
        return figure
    words = {**FRENCH, **{spec.label[0]: spec.label[1] for spec in MODELS.values()}}

    def said(text: Any) -> Any:
        return words.get(text, text) if isinstance(text, str) else text

    layout = figure.layout
    for name in [k for k in layout.to_plotly_json() if k.startswith(("xaxis", "yaxis"))]:
        axis = layout[name]
        if axis.title and axis.title.text:
            axis.title.text = said(axis.title.text)
    if layout.legend and layout.legend.title and layout.legend.title.text:
        layout.legend.title.text = said(layout.legend.title.text)
    for note in layout.annotations or ():
        note.text = said(note.text)
    for trace in figure.data:
        if "name" in trace and trace.name:
            trace.name = said(trace.name)
    return figure
