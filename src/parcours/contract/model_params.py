"""The parameters attribution models take, declared once for every face: `parcours attribute`
makes its options from them without importing a model (the command starts without the engine),
and each model names those it takes when it registers (attribution/registry.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Param:
    """A parameter a model takes, declared once for every face (the `parcours attribute`
    options are made from these, without importing a model)."""

    help: str
    cli: str  # the `parcours attribute` option ("" for none)
    kind: Literal["int", "float", "numbers", "config"]  # numbers: comma-separated; config: the workspace's
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None


PARAMS: dict[str, Param] = {
    "order": Param("markov: order of the chain (states are k-grams of the path)", "--order", "int", 1, 1, 4),
    "half_life_days": Param("time_decay: half-life of a touch's weight, in days", "--half-life", "float", 7.0,
                            minimum=0.0),
    "weights": Param("custom: first, middle and last weights", "--weights", "numbers", (0.4, 0.2, 0.4)),
    "direct": Param("last_non_direct: the direct channels, which lose to any other ([channels] direct)", "",
                    "config"),
}
