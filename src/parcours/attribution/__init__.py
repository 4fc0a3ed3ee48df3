"""Attribution models: credits per touch, summed to any dimension level (docs/architecture.md, "Models").

Importing this package imports every module in it, so every model registers
(`registry.MODELS`) whatever the order of its module; `NAMES` lists them in menu order.
"""

import importlib
import pkgutil

from parcours.attribution.counterfactual import Counterfactual
from parcours.attribution.credit import NO_TOUCH, attributed, credit_columns, credited_touches
from parcours.attribution.markov import Markov
from parcours.attribution.model import Model, PathModel
from parcours.attribution.ordered import OrderedShapley
from parcours.attribution.paths import paths_from_frame, paths_from_warehouse, read_paths
from parcours.attribution.registry import MODELS, names
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

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

NAMES = names()

__all__ = ["Model", "PathModel", "RuleModel", "FirstTouch", "LastTouch", "LastNonDirect", "Linear", "PositionBased",
           "TimeDecay", "Custom", "Markov", "Shapley", "ShapleyRate", "OrderedShapley", "Counterfactual",
           "touch_credits", "MODELS", "NAMES",
           "credit_columns", "attributed", "credited_touches", "paths_from_warehouse", "paths_from_frame",
           "read_paths", "NO_TOUCH"]
