"""How an adapter's ``from_config`` builds a model's chain, and builds it again after a reload."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .._chain import Tier
from .._errors import ConfigurationError
from .._policy import Policy
from ._plan import PlannedHop
from ._registry import ChainConfig
from ._schema import ModelEntry

__all__ = ["Recipe"]

ModelT = TypeVar("ModelT")


@dataclass(frozen=True)
class Recipe(Generic[ModelT]):
    """One alias's places (hops and tiers) and policy, from the configuration in force.

    ``resolve`` builds an entry's framework model, ``hop`` wraps a planned hop
    in the adapter's hop options, ``apply`` gives a built model new places and
    a new policy (raising `ConfigurationError`, with the model unchanged, if
    it cannot take them), and ``logger`` hears about reloads that leave the
    model as it was.
    """

    config: ChainConfig
    alias: str
    overrides: dict[str, Any]
    resolve: Callable[[ModelEntry], Any]
    hop: Callable[[PlannedHop[Any]], Any]
    apply: Callable[[ModelT, list[Any], Policy], None]
    logger: logging.Logger

    def build(self) -> tuple[list[Any], Policy]:
        """The alias's places, primary first, and its policy with the overrides applied."""
        plan = self.config.plan(self.alias, self.resolve)
        places: list[Any] = plan.arrange(self.hop, lambda members, name: Tier(members, name=name))
        return places, plan.policy(**self.overrides)

    def refresh(self, model: ModelT) -> None:
        """Rebuild ``model`` in place; if that fails it keeps its chain and a warning is logged."""
        try:
            self.apply(model, *self.build())
        except ConfigurationError as exc:
            self.logger.warning(
                "%s: alias %r keeps its previous chain after the reload: %s",
                self.logger.name,
                self.alias,
                exc,
            )
