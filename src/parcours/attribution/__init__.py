"""Attribution models: credits per touch, summed to any dimension level (docs/architecture.md, "Models").

Importing this package imports the modules that define models (`registry.MODEL_MODULES`), so
the registry (`registry.MODELS`) is complete whatever module is imported first; those modules
load Ibis, pandas and SciPy only when a model uses them (`parcours.lazy`), so listing the
models or attributing a path file starts in a fraction of a second. Everything else here is
imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from parcours.attribution.registry import MODEL_MODULES, MODELS

for _module in MODEL_MODULES:
    importlib.import_module(f"{__name__}.{_module}")

if TYPE_CHECKING:
    from parcours.attribution.counterfactual import Counterfactual
    from parcours.attribution.credit import NO_TOUCH, attributed, credit_columns, credited_touches
    from parcours.attribution.markov import Markov
    from parcours.attribution.model import Model, PathModel
    from parcours.attribution.ordered import OrderedShapley
    from parcours.attribution.paths import paths_from_frame, paths_from_warehouse, read_paths
    from parcours.attribution.rules import (
        Custom,
        FirstTouch,
        LastNonDirect,
        LastTouch,
        Linear,
        PositionBased,
        RuleModel,
        TimeDecay,
        touch_credits,
    )
    from parcours.attribution.shapley import Shapley, ShapleyRate

# exported name -> the module defining it
_WHERE = {
    **dict.fromkeys(("FirstTouch", "LastTouch", "LastNonDirect", "Linear", "PositionBased", "TimeDecay", "Custom",
                     "RuleModel", "touch_credits"), "rules"),
    **dict.fromkeys(("Model", "PathModel"), "model"),
    "Markov": "markov", "Shapley": "shapley", "ShapleyRate": "shapley", "OrderedShapley": "ordered",
    "Counterfactual": "counterfactual",
    **dict.fromkeys(("credit_columns", "attributed", "credited_touches", "NO_TOUCH"), "credit"),
    **dict.fromkeys(("paths_from_warehouse", "paths_from_frame", "read_paths"), "paths"),
}

__all__ = ["Model", "PathModel", "RuleModel", "FirstTouch", "LastTouch", "LastNonDirect", "Linear", "PositionBased",
           "TimeDecay", "Custom", "Markov", "Shapley", "ShapleyRate", "OrderedShapley", "Counterfactual",
           "touch_credits", "MODELS", "NAMES",
           "credit_columns", "attributed", "credited_touches", "paths_from_warehouse", "paths_from_frame",
           "read_paths", "NO_TOUCH"]


def __getattr__(name: str) -> Any:
    if name == "NAMES":  # the registered models in menu order
        from parcours.attribution.registry import names

        return names()
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
