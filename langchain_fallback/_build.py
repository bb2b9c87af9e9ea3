"""Building a FallbackChatModel's chain from its models, validated with field names.

Every problem raises `fallback_core.ConfigurationError` naming the field as
the caller wrote it (``models[2]``, ``models[1].idle_timeout``, ``deadline``),
never a pydantic wrapper around it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from fallback_core import Chain, ConfigurationError, Health, Hook, Hop, Policy

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

__all__ = ["CHAIN_FIELDS", "Built", "build_chain", "check_models", "hook_tuple", "split_policy"]

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

_POLICY_FIELDS = frozenset(f.name for f in dataclasses.fields(Policy))
_EXPECTED_MODEL = (
    "a chat model (a langchain_core BaseChatModel such as ChatOpenAI(...)) or a ChatHop"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Built:
    """A validated chain and the (hop name, model) pairs it calls."""

    chain: Chain[ChatRequest]
    hops: tuple[tuple[str, BaseChatModel], ...]


def check_models(models: object, owner: object) -> tuple[BaseChatModel | ChatHop, ...]:
    """``models`` as a tuple, or `ConfigurationError` naming the offending entry."""
    if isinstance(models, (BaseChatModel, ChatHop)):
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
        where, model = f"models[{i}]", item
        if isinstance(item, ChatHop):
            where, model = f"models[{i}].model", item.model
        if not isinstance(model, BaseChatModel):
            hint = ""
            if isinstance(model, Runnable):
                hint = " (bind tools or options on the FallbackChatModel, not on its models)"
            raise ConfigurationError(
                where, f"{type(model).__name__} is not a chat model{hint}", _EXPECTED_MODEL
            )
        if _leads_to(model, owner):
            raise ConfigurationError(
                where,
                "the FallbackChatModel contains itself (directly or through a nested one)",
                "models that do not lead back to the FallbackChatModel",
            )
    return items


def _leads_to(model: BaseChatModel, owner: object, seen: frozenset[int] = frozenset()) -> bool:
    if model is owner:
        return True
    if id(model) in seen:
        return False
    inner = model.__dict__.get("models") if type(model).__name__ == "FallbackChatModel" else None
    for item in inner or ():
        child = item.model if isinstance(item, ChatHop) else item
        if isinstance(child, BaseChatModel) and _leads_to(child, owner, seen | {id(model)}):
            return True
    return False


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


def build_chain(fields: Mapping[str, Any]) -> Built:
    """The chain a FallbackChatModel with these `CHAIN_FIELDS` values walks."""
    retries = fields["max_retries"]
    if retries is not None and (not isinstance(retries, int) or retries < 0):
        raise ConfigurationError("max_retries", f"got {retries!r}", "an int >= 0, or None")
    for name in ("timeout", "first_token_timeout", "idle_timeout"):
        value = fields[name]
        if value is not None and (not isinstance(value, (int, float)) or value <= 0):
            raise ConfigurationError(name, f"got {value!r}", "seconds > 0, or None")
    defaults = HopDefaults(
        timeout=fields["timeout"],
        first_token_timeout=fields["first_token_timeout"],
        idle_timeout=fields["idle_timeout"],
        max_attempts=None if retries is None else retries + 1,
    )
    return _build(
        fields["models"],
        policy=fields["policy"],
        hooks=fields["hooks"],
        continue_instruction=fields["continue_instruction"],
        defaults=defaults,
        inner_retries=fields["inner_retries"],
        health=fields["health"],
    )


def _build(
    models: Sequence[BaseChatModel | ChatHop],
    *,
    policy: Policy,
    hooks: Sequence[Hook],
    continue_instruction: str,
    defaults: HopDefaults,
    inner_retries: str,
    health: Health | None,
) -> Built:
    settings = [item if isinstance(item, ChatHop) else ChatHop(item) for item in models]
    names = _hop_names(settings)
    hops: list[Hop[ChatRequest]] = []
    running_models: list[tuple[str, BaseChatModel]] = []
    for setting, name in zip(settings, names, strict=True):
        model = setting.model
        running = hop_model(model, name, inner_retries=inner_retries)
        running_models.append((name, running))
        hops.append(
            Hop(
                ModelTarget(running, name),
                name=name,
                model=model_name(model),
                max_attempts=_first(setting.max_attempts, defaults.max_attempts),
                timeout=_first(setting.timeout, defaults.timeout),
                first_token_timeout=_first(
                    setting.first_token_timeout, defaults.first_token_timeout
                ),
                idle_timeout=_first(setting.idle_timeout, defaults.idle_timeout),
                context_window=_first(setting.context_window, context_window_for(model)),
                continuation=setting.continuation or continuation_for(model),
                require_finish=_first(setting.require_finish, requires_finish(model)),
                identity=identity_for(model),
            )
        )
    try:
        chain = Chain(
            hops,
            policy=policy,
            hooks=hooks,
            continue_instruction=continue_instruction,
            health=health,
        )
    except ConfigurationError as exc:
        field = (
            exc.field.replace("hops", "models", 1) if exc.field.startswith("hops") else exc.field
        )
        raise ConfigurationError(field, exc.problem, exc.expected) from None
    return Built(chain, tuple(running_models))


def _first(value: Any, default: Any) -> Any:
    return default if value is None else value


def _hop_names(settings: Sequence[ChatHop]) -> list[str]:
    """Explicit names as given; others from the model name, numbered when repeated."""
    taken = {s.name for s in settings if s.name}
    names = []
    for i, setting in enumerate(settings):
        if setting.name:
            names.append(setting.name)
            continue
        base = model_name(setting.model) or f"hop{i}"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}#{n}"
        taken.add(name)
        names.append(name)
    return names
