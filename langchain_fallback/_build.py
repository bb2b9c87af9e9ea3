"""Building a FallbackChatModel's chain from its models, validated with field names.

Every problem raises `fallback_core.ConfigurationError` naming the field as
the caller wrote it (``models[2]``, ``models[1].idle_timeout``, ``deadline``),
never a pydantic wrapper around it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel

from fallback_core import Chain, Hop, Tier
from fallback_core._toolkit import ChainOptions, members_of, unique_name
from fallback_core._valid import check_count

from ._hops import (
    ChatHop,
    HopDefaults,
    context_window_for,
    continuation_for,
    identity_for,
    model_name,
    requires_finish,
)
from ._private import hop_model
from ._target import ChatRequest, ModelTarget

__all__ = ["CHAIN_FIELDS", "Built", "build_chain"]

CHAIN_FIELDS = frozenset(
    {
        "continue_instruction",
        "first_token_timeout",
        "health",
        "hooks",
        "idle_timeout",
        "inner_retries",
        "max_retries",
        "models",
        "policy",
        "timeout",
    }
)
"""The FallbackChatModel fields its chain is built from; assigning one rebuilds it."""


@dataclasses.dataclass(frozen=True, slots=True)
class Built:
    """A validated chain and the (hop name, model) pairs it calls."""

    chain: Chain[ChatRequest]
    hops: tuple[tuple[str, BaseChatModel], ...]


def build_chain(fields: Mapping[str, Any]) -> Built:
    """The chain a FallbackChatModel with these `CHAIN_FIELDS` values walks."""
    retries = fields["max_retries"]
    check_count("max_retries", retries, minimum=0, allow_none=True)
    defaults = HopDefaults(  # checks the time limits, naming the field
        timeout=fields["timeout"],
        first_token_timeout=fields["first_token_timeout"],
        idle_timeout=fields["idle_timeout"],
        max_attempts=None if retries is None else retries + 1,
    )
    options = ChainOptions(
        policy=fields["policy"],
        hooks=fields["hooks"],
        continue_instruction=fields["continue_instruction"],
        limits=defaults,
        health=fields["health"],
    )
    return _build(fields["models"], options, defaults, fields["inner_retries"])


def _build(
    models: Sequence[BaseChatModel | ChatHop | Tier[Any]],
    options: ChainOptions,
    defaults: HopDefaults,
    inner_retries: str,
) -> Built:
    settings = [_setting(item) for item in members_of(models)]
    hops: list[Hop[ChatRequest]] = []
    running_models: list[tuple[str, BaseChatModel]] = []
    for setting, name in zip(settings, _hop_names(settings), strict=True):
        running, reports = hop_model(setting.model, name, inner_retries=inner_retries)
        running_models.append((name, running))
        hops.append(_hop(setting, name, ModelTarget(running, name, reports), defaults))
    places: list[Hop[ChatRequest] | Tier[ChatRequest]] = []
    for item in models:
        if isinstance(item, Tier):
            places.append(Tier(hops[: len(item.hops)], name=item.name))
            del hops[: len(item.hops)]
        else:
            places.append(hops.pop(0))
    return Built(options.chain(places, "models"), tuple(running_models))


def _setting(item: BaseChatModel | ChatHop) -> ChatHop:
    return item if isinstance(item, ChatHop) else ChatHop(item)


def _hop(
    setting: ChatHop, name: str, target: ModelTarget, defaults: HopDefaults
) -> Hop[ChatRequest]:
    model = setting.model
    return setting.hop(
        target,
        name=name,
        model=model_name(model),
        identity=identity_for(model),
        limits=defaults,
        context_window=context_window_for(model),
        continuation=continuation_for(model),
        require_finish=requires_finish(model),
        max_attempts=defaults.max_attempts,
    )


def _hop_names(settings: Sequence[ChatHop]) -> list[str]:
    """Explicit names as given; others from the model name, numbered when repeated."""
    taken = {s.name for s in settings if s.name}
    names = []
    for i, setting in enumerate(settings):
        if setting.name:
            names.append(setting.name)
            continue
        names.append(unique_name(model_name(setting.model) or f"hop{i}", taken))
    return names
