"""Attribution models by name: each model class registers itself where it is defined, with its
labels, whether it is data-driven and the parameters it takes (docs/architecture.md, "Models").

The faces list models from here (`parcours models`, /api/v1/models, the web's model picker),
and `catalogue.make_model` builds one by name. This module imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from parcours.contract.model_params import PARAMS
from parcours.contract.query import Text, by_language
from parcours.errors import DeclarationError

if TYPE_CHECKING:
    from parcours.attribution.model import Model

T = TypeVar("T", bound="type[Model]")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    order: int  # place in lists
    label: Text
    data_driven: bool  # fitted (the class's `data_driven`: model.py), or a rule per touch
    cls: type
    params: dict[str, str] = field(default_factory=dict)  # keyword -> what it sets (PARAMS' help)
    build: Callable[..., Any] | None = None  # params -> model; default: the class itself
    on_paths: bool = True  # the class's `on_paths` (model.py)

    def make(self, **params: Any) -> Any:
        """The model with those of `params` it takes (the others are ignored)."""
        given = {k: v for k, v in params.items() if k in self.params}
        return self.build(**given) if self.build is not None else self.cls(**given)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label[0],
                "labels": by_language(self.label),
                "data_driven": self.data_driven, "params": dict(self.params), "on_paths": self.on_paths}


MODELS: dict[str, ModelSpec] = {}

# the modules that define models, imported by the package (__init__.py) so MODELS is complete
# (tests/test_registry.py checks that no other module registers one)
MODEL_MODULES = ("rules", "markov", "ordered", "shapley", "counterfactual")


def register_model(name: str, order: int, label: Text, *,
                   params: tuple[str, ...] = (),
                   build: Callable[..., Any] | None = None) -> Callable[[T], T]:
    """Class decorator: the model joins the registry under `name` (also its `name` attribute)."""

    def add(cls: T) -> T:
        if name in MODELS:
            raise DeclarationError(f"two models are called {name!r}")
        if unknown := [p for p in params if p not in PARAMS]:
            raise DeclarationError(f"model {name}: {', '.join(unknown)} not declared in contract/model_params.py")
        MODELS[name] = ModelSpec(name, order, label, cls.data_driven, cls, {p: PARAMS[p].help for p in params}, build,
                                 cls.on_paths)
        cls.name = name
        return cls

    return add


def names() -> tuple[str, ...]:
    """The registered models in menu order (complete once `parcours.attribution` is imported)."""
    return tuple(sorted(MODELS, key=lambda name: MODELS[name].order))
