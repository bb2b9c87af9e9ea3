"""What every framework adapter needs and none should write again.

Hop options and their defaults, policy keywords, hop naming, cycle checks,
event serialisation and the preparation of ``from_config``'s options. The
adapters keep only what is about their framework: which class is a model, how
it is called, how its answers are converted.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from . import _chain
from ._chain import (
    DEFAULT_CONTINUE_INSTRUCTION,
    DEFAULT_FIRST_TOKEN_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    Chain,
    Tier,
)
from ._errors import ConfigurationError
from ._policy import Policy
from ._types import Strategy, Target, unique_name
from ._valid import check_seconds

if TYPE_CHECKING:
    from ._chain import Hop
    from ._events import Hook
    from ._health import Health

__all__ = [
    "DEFAULTS",
    "POLICY_FIELDS",
    "ChainOptions",
    "HopLimits",
    "HopOptions",
    "endpoint_of",
    "event_data",
    "event_kind",
    "find_cycle",
    "first",
    "from_config_options",
    "inner_chain",
    "members_of",
    "plain",
    "policy_from",
    "unique_name",
]

T = TypeVar("T")

POLICY_FIELDS = frozenset(f.name for f in dataclasses.fields(Policy))
"""The `Policy` fields, which adapters accept as keywords of their own."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HopOptions:
    """One model's own settings for its place in the chain; None takes the default."""

    name: str | None = None
    max_attempts: int | None = None
    timeout: float | None = None
    first_token_timeout: float | None = None
    idle_timeout: float | None = None
    context_window: int | None = None
    continuation: Strategy | None = None
    require_finish: bool | None = None
    weight: float | None = None

    def hop(
        self,
        target: Target[T],
        *,
        name: str | None,
        model: str | None,
        identity: str,
        limits: HopLimits,
        context_window: int | None,
        continuation: Strategy,
        require_finish: bool,
        max_attempts: int | None = None,
    ) -> Hop[T]:
        """The core hop for ``target``: each option set here, else the default given for it.

        ``limits`` are the fallback model's time limits; the other keywords are
        what the adapter knows of the model (its class, profile or metadata).
        """
        return _chain.Hop(
            target,
            name=name,
            model=model,
            max_attempts=first(self.max_attempts, max_attempts),
            timeout=first(self.timeout, limits.timeout),
            first_token_timeout=first(self.first_token_timeout, limits.first_token_timeout),
            idle_timeout=first(self.idle_timeout, limits.idle_timeout),
            context_window=first(self.context_window, context_window),
            continuation=first(self.continuation, continuation),
            require_finish=first(self.require_finish, require_finish),
            identity=identity,
            weight=first(self.weight, 1.0),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class HopLimits:
    """Time limits (seconds) a fallback model applies to every hop that sets none of its own."""

    timeout: float | None = None
    first_token_timeout: float | None = DEFAULT_FIRST_TOKEN_TIMEOUT
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT

    def __post_init__(self) -> None:
        for name in ("timeout", "first_token_timeout", "idle_timeout"):
            check_seconds(name, getattr(self, name))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ChainOptions:
    """What a fallback model gives its chain besides its models, with the core's defaults.

    Declared here once for every adapter: each takes these options under
    these names, and its own declarations take their defaults from `DEFAULTS`.
    ``limits`` apply to every hop that sets none of its own.
    """

    policy: Policy | None = None
    hooks: Sequence[Hook] = ()
    continue_instruction: str = DEFAULT_CONTINUE_INSTRUCTION
    limits: HopLimits = HopLimits()
    health: Health | None = None

    def chain(self, places: Sequence[Hop[T] | Tier[T]], field: str) -> Chain[T]:
        """The chain of ``places`` with these options; a bad hop is named under ``field``.

        The core names hops ``hops[i]``; the caller wrote ``models[i]`` or
        ``llms[i]``, so that is what the error says.
        """
        try:
            return Chain(
                places,
                policy=self.policy,
                hooks=self.hooks,
                continue_instruction=self.continue_instruction,
                health=self.health,
            )
        except ConfigurationError as exc:
            if not exc.field.startswith("hops"):
                raise
            raise ConfigurationError(field + exc.field[4:], exc.problem, exc.expected) from None


DEFAULTS = ChainOptions()
"""The options a fallback model has when it is given none."""


def first(value: T | None, default: T) -> T:
    """``value``, unless it is None."""
    return default if value is None else value


def members_of(items: Iterable[Any]) -> list[Any]:
    """``items`` with each `Tier` replaced by its members, in order."""
    return [m for item in items for m in (item.hops if isinstance(item, Tier) else [item])]


def endpoint_of(model: object, attributes: Iterable[str]) -> str:
    """The first non-empty string among ``model``'s ``attributes`` (where it keeps its URL)."""
    return next(
        (
            value
            for attribute in attributes
            if isinstance(value := getattr(model, attribute, None), str) and value
        ),
        "default",
    )


def inner_chain(model: object) -> Chain[Any] | None:
    """The chain inside ``model`` when it is itself a fallback model, else None."""
    chain = getattr(model, "fallback_chain", None)
    return chain if isinstance(chain, Chain) else None


def policy_from(policy: object, keywords: dict[str, Any]) -> Policy | None:
    """The policy given as ``policy=`` or as its fields among ``keywords`` (popped), not both."""
    loose = {k: keywords.pop(k) for k in list(keywords) if k in POLICY_FIELDS and k != "policy"}
    if loose:
        if policy is not None:
            raise ConfigurationError(
                "policy",
                f"given together with {', '.join(sorted(loose))}",
                "either policy=Policy(...) or the policy's fields as keywords, not both",
            )
        return Policy(**loose)
    if policy is not None and not isinstance(policy, Policy):
        raise ConfigurationError("policy", f"got {type(policy).__name__}", "a Policy")
    return policy


def find_cycle(
    owner: object,
    items: Sequence[object],
    unwrap: Callable[[object], object],
    inner: Callable[[object], Iterable[object] | None],
) -> int | None:
    """The index of the first of ``items`` that leads back to ``owner``, if any.

    ``unwrap`` gives the model a hop wrapper holds (or the item itself);
    ``inner`` a model's own items when it is itself a fallback model, None
    otherwise.
    """

    def leads_back(wrapped: object, seen: frozenset[int]) -> bool:
        item = unwrap(wrapped)
        if item is owner:
            return True
        nested = inner(item)
        if nested is None or id(item) in seen:
            return False
        return any(leads_back(m, seen | {id(item)}) for m in members_of(nested))

    for i, item in enumerate(items):
        if any(leads_back(member, frozenset()) for member in members_of([item])):
            return i
    return None


def from_config_options(chain_field: str, options: dict[str, Any], health: Any) -> dict[str, Any]:
    """The Policy overrides popped from ``options``; ``health`` set as its default.

    ``chain_field`` (``models``, ``llms``) and ``policy`` come from the
    configuration, so giving them is a `ConfigurationError`.
    """
    for key in (chain_field, "policy"):
        if key in options:
            raise ConfigurationError(
                key,
                "given to from_config",
                "the configuration's entries and policy (Policy fields as keywords override it)",
            )
    overrides = {k: options.pop(k) for k in list(options) if k in POLICY_FIELDS}
    if health is not None:
        options.setdefault("health", health)
    return overrides


def event_kind(event: object) -> str:
    """The event's type in snake case: ``hop_started`` for `HopStarted`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower()


def plain(value: Any, *, digits: int | None = None) -> Any:
    """``value`` as JSON-friendly data: errors as "Type: message", enums as their values.

    With ``digits``, floats are rounded to that many.
    """
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name), digits=digits) for f in dataclasses.fields(value)
        }
    if isinstance(value, (list, tuple)):
        return [plain(v, digits=digits) for v in value]
    if digits is not None and isinstance(value, float):
        return round(value, digits)
    return value


def event_data(event: object, *, digits: int | None = None) -> Mapping[str, Any]:
    """The event's fields as JSON-friendly data, plus ``event``: its `event_kind`."""
    return {"event": event_kind(event), **plain(event, digits=digits)}


def refuses_unstreamed(
    client: object, max_tokens: object, model: object, timeout: object = None
) -> bool:
    """Whether an anthropic SDK ``client`` would refuse this request sent unstreamed.

    The SDK refuses (``ValueError``, before sending anything) a non-streaming
    request whose ``max_tokens`` implies more than ten minutes - over 21,333
    tokens, or a per-model limit - when the client keeps the SDK's default
    timeout and the call sets none. Its own rule is asked, as its
    ``messages.create`` does. False for any other client.
    """
    check = getattr(client, "_calculate_nonstreaming_timeout", None)
    constants = sys.modules.get("anthropic._constants")  # loaded with any anthropic client
    if not callable(check) or constants is None:
        return False
    if not isinstance(max_tokens, int) or timeout is not None:
        return False
    if getattr(client, "timeout", None) != constants.DEFAULT_TIMEOUT:
        return False
    try:
        check(max_tokens, constants.MODEL_NONSTREAMING_TOKENS.get(model))
    except ValueError:
        return True
    return False
