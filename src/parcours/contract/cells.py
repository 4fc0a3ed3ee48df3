"""What a cell of a file written for people may hold: one rule for every CSV and XLSX parcours
writes (report exports, rejects files, audience exports, the command line's CSV tables).

A text that starts with =, +, -, @, a tab or a carriage return is run as a formula by a
spreadsheet (`=cmd|' /C calc'!A0`), so it gets a leading quote (OWASP's advice on CSV
injection); numbers stay numbers. Control characters (a NUL byte) never reach a stored table
(ingest refuses them), but a rejects file shows the refused value: there they become U+FFFD,
visible and harmless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the engine's types only: reading a config needs no engine
    import ibis.expr.types as ir

RISKY = ("=", "+", "-", "@", "\t", "\r")
# No text anyone typed holds these (tab and line ends may): C0 and C1 controls (U+0085 is a
# line end to some readers) and the Unicode line and paragraph separators, which end a line
# of JavaScript and of some CSV readers. One pattern for RE2 and Python: \x escapes, and the
# two separators written as themselves.
CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + "\u2028\u2029" + "]"
SHOWN_FOR_CONTROL = "\ufffd"


def neutralise(value: Any) -> Any:
    """A text as a spreadsheet shows it rather than runs it; anything else as it is."""
    if isinstance(value, str) and value.startswith(RISKY):
        return "'" + value
    return value


def shown(text: ir.StringValue) -> ir.StringValue:
    """A refused value as it can be shown: its control characters as U+FFFD."""
    return text.re_replace(CONTROL, SHOWN_FOR_CONTROL)


def neutralised(text: ir.StringValue) -> ir.StringValue:
    """`neutralise` in the engine (a rejects file's values)."""
    return text.substr(0, 1).isin(RISKY).ifelse("'" + text, text)
