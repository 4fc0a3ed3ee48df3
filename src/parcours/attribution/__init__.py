"""Attribution models: credits per touch, summed to any dimension level (design.md section 4)."""

from parcours.attribution.rules import (
    Custom,
    FirstTouch,
    LastNonDirect,
    LastTouch,
    Linear,
    PositionBased,
    RuleModel,
    TimeDecay,
    attributed,
    touch_credits,
)

__all__ = ["RuleModel", "FirstTouch", "LastTouch", "LastNonDirect", "Linear", "PositionBased",
           "TimeDecay", "Custom", "touch_credits", "attributed"]
