"""Checking what a FallbackChatModel is given, with field names as the caller wrote them.

Every problem raises `fallback_core.ConfigurationError` naming the field
(``models[2]``, ``models[0].hops[1].model``, ``deadline``), never a pydantic
wrapper around it. ``models`` holds chat models, `ChatHop`s, and
`fallback_core.Tier`s of either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from fallback_core import ConfigurationError, Tier
from fallback_core._toolkit import POLICY_FIELDS, find_cycle, policy_from

from ._hops import ChatHop

__all__ = ["check_models", "hook_tuple", "split_policy"]
_EXPECTED_MODEL = (
    "a chat model (a langchain_core BaseChatModel such as ChatOpenAI(...)), a ChatHop, "
    "or a fallback_core.Tier of them"
)
_EXPECTED_MEMBER = "a chat model or a ChatHop"


def check_models(models: object, owner: object) -> tuple[BaseChatModel | ChatHop | Tier[Any], ...]:
    """``models`` as a tuple, or `ConfigurationError` naming the offending entry."""
    if isinstance(models, (BaseChatModel, ChatHop, Tier)):
        raise ConfigurationError(
            "models",
            f"got a single {type(models).__name__}",
            "a list of models, primary first, e.g. models=[primary, backup]",
        )
    if isinstance(models, (str, bytes, Mapping)) or not isinstance(models, Iterable):
        raise ConfigurationError(
            "models", f"got {type(models).__name__}", f"a list, each item {_EXPECTED_MODEL}"
        )
    items = tuple(models)
    if not items:
        raise ConfigurationError("models", "the list is empty", f"at least one: {_EXPECTED_MODEL}")
    for i, item in enumerate(items):
        if not isinstance(item, Tier):
            _check_model(f"models[{i}]", item, owner, _EXPECTED_MODEL)
            continue
        members = item.hops
        if isinstance(members, (str, bytes)) or not isinstance(members, Sequence) or not members:
            raise ConfigurationError(
                f"models[{i}].hops", "no deployments", f"a non-empty list, each {_EXPECTED_MEMBER}"
            )
        for j, member in enumerate(members):
            _check_model(f"models[{i}].hops[{j}]", member, owner, _EXPECTED_MEMBER)
    return items


def _check_model(where: str, item: object, owner: object, expected: str) -> None:
    model = item
    if isinstance(item, ChatHop):
        where, model = f"{where}.model", item.model
    if not isinstance(model, BaseChatModel):
        hint = ""
        if isinstance(model, Runnable):
            hint = " (bind tools or options on the FallbackChatModel, not on its models)"
        raise ConfigurationError(
            where, f"{type(model).__name__} is not a chat model{hint}", expected
        )
    if find_cycle(owner, [model], _model_of, lambda m: _inner(m, owner)) is not None:
        raise ConfigurationError(
            where,
            "the FallbackChatModel contains itself (directly or through a nested one)",
            "models that do not lead back to the FallbackChatModel",
        )


def _model_of(item: object) -> object:
    return item.model if isinstance(item, ChatHop) else item


def _inner(model: object, owner: object) -> Any:
    """The models of ``model`` when it is a FallbackChatModel (the class of ``owner``)."""
    return model.__dict__.get("models") if isinstance(model, type(owner)) else None


def split_policy(data: dict[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """Fold Policy fields given as keywords into ``data["policy"]``; refuse unknown keys.

    Provider options (``temperature``, ``api_key``) belong on each model, so an
    unknown key is an error naming the closest option, never silently dropped
    (``idle_timout=20`` would otherwise leave stall protection off).
    """
    policy = policy_from(data.pop("policy", None), data)
    if policy is not None:
        data["policy"] = policy
    known = set(known)
    for key in data:
        if key not in known:
            raise ConfigurationError.unknown(
                key,
                key,
                known | POLICY_FIELDS,
                "option of FallbackChatModel",
                "provider options such as api_key or temperature belong on each model",
            )
    return data


def hook_tuple(hooks: Any) -> Any:
    """``hooks`` as a tuple; anything but a list of hooks is left for the chain to refuse."""
    if hooks is None:
        return ()
    if isinstance(hooks, (list, tuple)):
        return tuple(hooks)
    return hooks
