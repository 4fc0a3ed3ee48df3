"""A refusal (an error message) said to a person, in the page's language: the field by its
label rather than its name (`min_revenue`, `when.all[0].within_days`), the reason in words.

The faces that write for programs (the command line, the API without `lang`) keep the
messages as they are raised: the names there are the options and parameters the caller
typed. A page asks with `lang`, and reads them here. Each English reason is matched once, in
`REASONS` (its French beside it); a reason not listed is left as it is (a test lists the
refusals the pages can meet and checks each is said).
"""

from __future__ import annotations

import re

from parcours.contract.conditions import KINDS
from parcours.contract.query import LANGUAGES, SPECS

# (English reason, as raised, with named groups) -> (English, French) as said to a person
REASONS: list[tuple[str, tuple[str, str]]] = [
    (r"(?P<n>[^\s]+) must be at least (?P<v>.+)", ("{n}: at least {v}", "{n} : au moins {v}")),
    (r"(?P<n>[^\s]+) must be >= (?P<v>.+)", ("{n}: at least {v}", "{n} : au moins {v}")),
    (r"(?P<n>[^\s]+) must be at most (?P<v>.+)", ("{n}: at most {v}", "{n} : au plus {v}")),
    (r"(?P<n>[^\s]+) must be one of (?P<v>.+)", ("{n}: one of {v}", "{n} : l'une des valeurs {v}")),
    (r"(?P<n>[^\s:]+): unknown (?P<bad>.+); expected (?P<v>.+)",
     ("{n}: unknown {bad}; expected {v}", "{n} : valeur inconnue {bad} ; attendu {v}")),
    (r"(?P<n>[^\s:]+): at most (?P<m>\d+) values \((?P<k>\d+) given\)",
     ("{n}: at most {m} values ({k} given)", "{n} : au plus {m} valeurs ({k} données)")),
    (r"(?P<n>[^\s:]+): (?P<v>.+) holds a control character",
     ("{n}: {v} holds a control character", "{n} : {v} contient un caractère de contrôle")),
    (r"(?P<n>[^\s:]+): (?P<v>.+) is not a date \(YYYY-MM-DD\)",
     ("{n}: {v} is not a date (YYYY-MM-DD)", "{n} : {v} n'est pas une date (AAAA-MM-JJ)")),
    (r"(?P<n>[^\s:]+): (?P<v>.+) is not a whole number",
     ("{n}: {v} is not a whole number", "{n} : {v} n'est pas un nombre entier")),
    (r"(?P<n>[^\s:]+): (?P<v>.+) is not a finite number",
     ("{n}: {v} is not a finite number", "{n} : {v} n'est pas un nombre fini")),
    (r"(?P<n>[^\s:]+): (?P<v>.+) is not a number", ("{n}: {v} is not a number", "{n} : {v} n'est pas un nombre")),
    (r"(?P<n>[^\s:]+): (?P<v>.+) is not true or false",
     ("{n}: {v} is not true or false", "{n} : {v} n'est ni vrai ni faux")),
    (r"(?P<n>[^\s:]+): (?P<v>.+) is not level=value",
     ("{n}: {v} is not level=value", "{n} : {v} n'est pas de la forme niveau=valeur")),
    (r"(?P<n>[^\s:]+): Input should be greater than or equal to (?P<v>.+)",
     ("{n}: at least {v}", "{n} : au moins {v}")),
    (r"(?P<n>[^\s:]+): Input should be less than or equal to (?P<v>.+)", ("{n}: at most {v}", "{n} : au plus {v}")),
    (r"(?P<n>[^\s:]+): Input should be a valid dictionary.*", ("{n}: a JSON object", "{n} : un objet JSON")),
    (r"(?P<n>[^\s:]+): Input should be a valid integer.*", ("{n}: a whole number", "{n} : un nombre entier")),
    (r"(?P<n>[^\s:]+): Input should be a valid number.*", ("{n}: a number", "{n} : un nombre")),
    (r"(?P<n>[^\s:]+): Input should be a valid date.*", ("{n}: a date (YYYY-MM-DD)", "{n} : une date (AAAA-MM-JJ)")),
    (r"(?P<n>[^\s:]+): Input should be a valid boolean.*", ("{n}: true or false", "{n} : vrai ou faux")),
    (r"(?P<n>[^\s:]+): Input should be (?P<v>'.+)", ("{n}: {v}", "{n} : {v}")),
    (r"the body is not JSON: (?P<v>.+)", ("The request is not JSON: {v}", "La requête n'est pas du JSON : {v}")),
    (r"period starts \((?P<a>[^)]+)\) after it ends \((?P<b>[^)]+)\)",
     ("The period starts ({a}) after it ends ({b})", "La période commence ({a}) après sa fin ({b})")),
    (r"field (?P<n>[^:]+): the (?P<r>[\w-]+) report does not read (?P<l>.+): it would be ignored",
     ("{n}: this report does not read it (it would be ignored)",
      "{n} : ce rapport ne le lit pas (il serait ignoré)")),
    (r"field (?P<n>[^:]+): no audience named (?P<a>'[^']*'); audiences: (?P<k>.+)",
     ("{n}: no audience named {a} (audiences: {k})", "{n} : aucune audience nommée {a} (audiences : {k})")),
    (r"field (?P<n>[^:]+): no audience named (?P<a>'[^']*'); audiences: none yet",
     ("{n}: no audience named {a} yet", "{n} : aucune audience nommée {a} pour l'instant")),
    (r"field (?P<n>[^:]+): expected a whole number of days, 1 to 3660",
     ("{n}: a whole number of days, from 1 to 3660", "{n} : un nombre entier de jours, de 1 à 3660")),
    (r"field (?P<n>[^:]+): expected one of (?P<v>.+), not (?P<x>.+)",
     ("{n}: one of {v}, not {x}", "{n} : l'une des valeurs {v}, pas {x}")),
    (r"field (?P<n>[^:]+): expected a text of at most (?P<m>[\d,]+) characters, without control characters",
     ("{n}: a text of at most {m} characters, without control characters",
      "{n} : un texte d'au plus {m} caractères, sans caractère de contrôle")),
    (r"field (?P<n>[^:]+): expected a text of at most (?P<m>[\d,]+) characters",
     ("{n}: a text of at most {m} characters", "{n} : un texte d'au plus {m} caractères")),
    (r"field (?P<n>[^:]+): expected at most (?P<m>[\d,]+) values, not (?P<k>[\d,]+)",
     ("{n}: at most {m} values, not {k}", "{n} : au plus {m} valeurs, pas {k}")),
    (r"field (?P<n>[^:]+): expected a text or a list of texts",
     ("{n}: a text or a list of texts", "{n} : un texte ou une liste de textes")),
    (r"field (?P<n>[^:]+): expected a text", ("{n}: a text", "{n} : un texte")),
    (r"field (?P<n>[^:]+): expected true or false", ("{n}: true or false", "{n} : vrai ou faux")),
    (r"field (?P<n>[^:]+): expected a number", ("{n}: a number", "{n} : un nombre")),
    (r"field (?P<n>[^:]+): missing", ("{n}: missing", "{n} : manquant")),
    (r"field (?P<n>[^:]+): unknown funnel stage (?P<s>'[^']*'); stages: (?P<k>.+)",
     ("{n}: unknown funnel stage {s} (stages: {k})", "{n} : étape du tunnel inconnue {s} (étapes : {k})")),
    (r"field (?P<n>[^:]+): a condition holds at most (?P<m>\d+) tests, (?P<d>\d+) levels deep",
     ("{n}: a condition holds at most {m} tests, {d} levels deep",
      "{n} : une condition compte au plus {m} tests, sur {d} niveaux")),
    (r"field (?P<n>[^:]+): a condition is one test .*",
     ("{n}: a condition is one test, or a combination of tests (all, any, not)",
      "{n} : une condition est un test, ou une combinaison de tests (tous, l'un, sauf)")),
    (r"field (?P<n>[^:]+): expected exactly one of .*",
     ("{n}: one test, or one combination (all, any, not), per condition",
      "{n} : un test, ou une combinaison (tous, l'un, sauf), par condition")),
    (r"field (?P<n>[^:]+): unknown key; .*", ("{n}: not a key of this test", "{n} : pas une clé de ce test")),
    (r"field (?P<n>[^:]+): (?P<k>\w+) takes a non-empty list of conditions",
     ("{n}: at least one test", "{n} : au moins un test")),
    (r"field (?P<n>[^:]+): an audience name is .*",
     ("{n}: 1 to 64 lower-case letters, digits, - and _, starting with a letter or a digit",
      "{n} : 1 à 64 lettres minuscules, chiffres, - et _, commençant par une lettre ou un chiffre")),
    (r"field (?P<n>[^:]+): audience (?P<a>'[^']*') is defined in (?P<f>.+): edit it there",
     ("{n}: audience {a} is defined in {f}: edit it there", "{n} : l'audience {a} est définie dans {f} : "
                                                            "modifiez-la là")),
    (r"writes need a token with the write scope.*",
     ("Saving needs a token with the write scope: open the link `parcours serve` printed, or enter a token",
      "Enregistrer demande un jeton d'écriture : ouvrez le lien affiché par `parcours serve`, ou saisissez un "
      "jeton")),
    (r"missing or unknown token.*", ("Missing or unknown token", "Jeton absent ou inconnu")),
    (r"this token lacks the (?P<s>\w+) scope", ("This token lacks the {s} scope", "Ce jeton n'a pas le droit {s}")),
    (r"the body is over (?P<v>.+)", ("The request is too large (over {v})", "La requête est trop grande (plus de "
                                                                             "{v})")),
    (r"Not Found", ("Not found", "Introuvable")),
    (r"Method Not Allowed", ("Not allowed here", "Non permis ici")),
    (r"no audience refreshed yet: .*", ("No audience yet: save one after a build",
                                         "Pas encore d'audience : enregistrez-en une après une construction")),
    (r"no journeys yet: run `parcours build`", ("No journeys yet: run `parcours build`",
                                                "Pas encore de parcours : lancez `parcours build`")),
]
_COMPILED = [(re.compile(pattern), said) for pattern, said in REASONS]
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_PLACE = re.compile(r"(?P<key>[a-z_]+)(?:\[(?P<i>\d+)\])?")
COMBINED = {"all": ("every test", "tous les tests"), "any": ("any test", "l'un des tests"),
            "not": ("not", "sauf")}
NAMES = {"name": ("Name", "Nom"), "audience.name": ("Name", "Nom"), "identifier": ("Identifier", "Identifiant"),
         "when": ("Condition", "Condition"), "description": ("Description", "Description"),
         "body": ("The request's body", "Le corps de la requête")}


def said(message: str, lang: str) -> tuple[str, bool]:
    """The message as a person reads it in `lang`, and whether its reason was known (an
    unknown one is given as it is)."""
    i = LANGUAGES.index(lang)
    for pattern, words in _COMPILED:
        found = pattern.fullmatch(message)
        if found:
            parts = found.groupdict()
            if "n" in parts:
                parts["n"] = field_label(parts["n"], lang)
            if lang == "fr":  # a day as French writes it: 20/11/2026
                parts = {k: _ISO_DAY.sub(r"\3/\2/\1", v) if v else v for k, v in parts.items()}
            return words[i].format(**parts), True
    return message, False


def field_label(field: str, lang: str) -> str:
    """A field as a person knows it: a Query field by its label; a condition's key by the
    label its test has in the builder, after the place of the test (`Test 2 › in the last …
    days`)."""
    i = LANGUAGES.index(lang)
    if field in SPECS:
        return SPECS[field].label[i]
    if field in NAMES:
        return NAMES[field][i]
    if field in KINDS:
        return KINDS[field].label[i]
    if not field.startswith(("when", "audience.when")):
        return field
    steps, last = [], ""
    for part in field.split(".")[1:]:
        m = _PLACE.fullmatch(part)
        if m is None:
            return field
        last = m["key"]
        if m["i"] is not None:
            steps.append(("Test", "Test")[i] + f" {int(m['i']) + 1}")
    words = _key_label(last, i)
    return " › ".join([*steps, words] if words else steps) or NAMES["when"][i]


def _key_label(key: str, i: int) -> str:
    if key in KINDS:
        return KINDS[key].label[i]
    if key in COMBINED:
        return COMBINED[key][i]
    for kind in KINDS.values():
        if key in kind.more and kind.more[key].label[i]:
            return kind.more[key].label[i]
    return "" if key == "when" else key
