"""Checking what a FallbackChatModel is given, with field names as the caller wrote them.

Every problem raises `fallback_core.ConfigurationError` naming the field
(``models[2]``, ``models[0].hops[1].model``, ``deadline``), never a pydantic
wrapper around it. ``models`` holds chat models, `ChatHop`s, and
`fallback_core.Tier`s of either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from fallback_core import ConfigurationError, Policy, Tier

from ._hops import ChatHop

__all__ = ["check_models", "hook_tuple", "members_of", "split_policy"]

_POLICY_FIELDS = frozenset(f.name for f in dataclasses.fields(Policy))
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
    if _leads_to(model, owner):
        raise ConfigurationError(
            where,
            "the FallbackChatModel contains itself (directly or through a nested one)",
            "models that do not lead back to the FallbackChatModel",
        )


def _leads_to(model: BaseChatModel, owner: object, seen: frozenset[int] = frozenset()) -> bool:
    if model is owner:
        return True
    if id(model) in seen:
        return False
    inner = model.__dict__.get("models") if type(model).__name__ == "FallbackChatModel" else None
    for item in members_of(inner or ()):
        child = item.model if isinstance(item, ChatHop) else item
        if isinstance(child, BaseChatModel) and _leads_to(child, owner, seen | {id(model)}):
            return True
    return False


def members_of(models: Iterable[Any]) -> list[Any]:
    """``models`` with each `Tier` replaced by its members, in order."""
    return [m for item in models for m in (item.hops if isinstance(item, Tier) else [item])]


def split_policy(data: dict[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """Fold Policy fields given as keywords into ``data["policy"]``; refuse unknown keys.

    Provider options (``temperature``, ``api_key``) belong on each model, so an
    unknown key is an error naming the closest option, never silently dropped
    (``idle_timout=20`` would otherwise leave stall protection off).
    """
    loose = {k: data.pop(k) for k in list(data) if k in _POLICY_FIELDS and k != "policy"}
    if loose:
        if data.get("policy") is not None:
            raise ConfigurationError(
                "policy",
                f"given together with {', '.join(sorted(loose))}",
                "either policy=Policy(...) or the policy's fields as keywords, not both",
            )
        data["policy"] = Policy(**loose)
    elif data.get("policy") is None:
        data.pop("policy", None)
    elif not isinstance(data["policy"], Policy):
        raise ConfigurationError("policy", f"got {type(data['policy']).__name__}", "a Policy")
    known = set(known)
    for key in data:
        if key not in known:
            raise ConfigurationError.unknown(
                key,
                key,
                known | _POLICY_FIELDS,
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
