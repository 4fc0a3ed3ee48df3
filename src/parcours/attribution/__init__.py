"""Attribution models: credits per touch, summed to any dimension level (docs/architecture.md, "Models")."""

from parcours.attribution.counterfactual import Counterfactual
from parcours.attribution.credit import NO_TOUCH, attributed, credit_columns, credited_touches
from parcours.attribution.markov import Markov
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

__all__ = ["RuleModel", "FirstTouch", "LastTouch", "LastNonDirect", "Linear", "PositionBased",
           "TimeDecay", "Custom", "Markov", "Shapley", "ShapleyRate", "OrderedShapley", "Counterfactual",
           "touch_credits",
           "credit_columns", "attributed", "credited_touches", "paths_from_warehouse", "paths_from_frame",
           "read_paths", "NO_TOUCH"]
