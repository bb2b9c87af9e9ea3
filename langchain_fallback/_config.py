"""`from_config`: a `FallbackChatModel` for a named chain of a `fallback_core.config.ChainConfig`.

Each entry becomes a chat model through LangChain's own ``init_chat_model``,
so every provider LangChain integrates is available by name, provided its
package is installed: ``provider/model`` gives the provider and the model,
the entry's ``options`` the model's keyword arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel

from fallback_core import ConfigurationError, Policy
from fallback_core._toolkit import from_config_options
from fallback_core.config import (
    ChainConfig,
    ModelEntry,
    Unresolvable,
    require_api_key,
)
from fallback_core.config._recipe import Recipe

from ._hops import ChatHop
from ._model import FallbackChatModel

__all__ = ["from_config"]

logger = logging.getLogger("langchain_fallback")

# Configuration providers that init_chat_model knows by another name.
_PROVIDER_NAMES = {"openai_like": "openai", "openai_compatible": "openai"}


def from_config(
    config: ChainConfig, alias: str, *, follow: bool = True, **options: Any
) -> FallbackChatModel:
    """A `FallbackChatModel` walking ``alias``'s entries, then ``config``'s default chain.

    Entries are built with ``langchain.chat_models.init_chat_model``
    (``openai_like`` / ``openai-compatible`` mean ``ChatOpenAI``, given a
    ``base_url`` option). An entry whose integration package is missing,
    whose API key is unset, or whose provider refuses its options is skipped
    with the reason (``ChainConfig.listeners`` hear it); if nothing is left,
    `fallback_core.config.NoUsableModelError` lists every skip.

    ``options`` are the model's own (``hooks``, ``health`` - by default the
    configuration's `ChainConfig.health` - ``idle_timeout``, ...); Policy
    fields among them (``classify``, ``backoff``, ``deadline``, ``rules``, ...)
    override the configuration's policy. With ``follow`` the
    model is rebuilt in place after each reload that changes the
    configuration: calls already running finish on the chain they started
    with, and if the alias has no usable entry any more the model keeps its
    chain and a warning is logged.
    """
    overrides = from_config_options("models", options, config.health)
    recipe = Recipe(
        config,
        alias,
        overrides,
        _resolver(),
        lambda hop: ChatHop(hop.target, **hop.hop_options()),
        _apply,
        logger,
    )
    models, policy = recipe.build()
    model = FallbackChatModel(models=models, policy=policy, **options)
    if follow:
        config.on_reload(model, recipe.refresh)
    return model


def _apply(model: FallbackChatModel, models: list[Any], policy: Policy) -> None:
    model.policy = policy
    model.models = tuple(models)


def _resolver() -> Callable[[ModelEntry], BaseChatModel]:
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        raise ConfigurationError(
            "from_config",
            "the langchain package is not installed",
            "pip install langchain (entries are built with its init_chat_model)",
        ) from exc

    def resolve(entry: ModelEntry) -> BaseChatModel:
        provider = _PROVIDER_NAMES.get(entry.provider, entry.provider)
        try:
            model = init_chat_model(entry.model_name, model_provider=provider, **entry.options)
        except ImportError as exc:
            raise Unresolvable(
                f"integration package not installed ({Unresolvable.brief(exc)})"
            ) from exc
        except Exception as exc:
            require_api_key(entry)  # a missing key says more than the provider's complaint
            raise Unresolvable.because(exc) from exc
        if not isinstance(model, BaseChatModel):
            raise Unresolvable(f"init_chat_model made a {type(model).__name__}, not a chat model")
        require_api_key(entry)
        return model

    return resolve
