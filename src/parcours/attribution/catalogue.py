"""Models by name, as the CLI and the API ask for them, and attribution of path files.

Importing it imports the package, hence every model: the registry (`registry.MODELS`) is complete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parcours.attribution.registry import MODELS, names
from parcours.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from parcours.attribution.model import Model
    from parcours.attribution.paths import PathTable


def make_model(name: str, **params: Any) -> Any:
    """The model called `name`, with those of `params` it takes (order, half_life_days,
    weights, direct: see each model's registration)."""
    if name not in MODELS:
        raise InvalidInput(f"unknown model {name!r}; models: {', '.join(names())}")
    return MODELS[name].make(**params)


def attribute_paths(model: Model, paths: PathTable) -> pa.Table:
    """(channel, conversions, value[, removal_effect | shapley_value]) from aggregated paths,
    largest first."""
    if not model.on_paths:
        raise InvalidInput(f"{model.name} needs touch times; aggregated paths have none (attribute a workspace)")
    return model.credits_on_paths(paths)
