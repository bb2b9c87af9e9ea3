"""Hops and chains: what is tried, in which order, under which limits.

Everything is validated when it is built; a bad value raises
`ConfigurationError` naming the field and what would be accepted. A chain is
immutable and holds no per-call state, so one chain serves any number of
threads and tasks at once.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar, get_args

from ._drive import AsyncCallStream, CallStream
from ._errors import ConfigurationError
from ._events import Hook, HookFailures
from ._health import Health
from ._policy import Policy
from ._types import Strategy, Target, unique_name
from ._valid import check_count, check_seconds
from .checks import CheckLike, as_checks

__all__ = [
    "DEFAULT_CONTINUE_INSTRUCTION",
    "DEFAULT_FIRST_TOKEN_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "Chain",
    "Hop",
    "Tier",
]

RequestT = TypeVar("RequestT")

DEFAULT_CONTINUE_INSTRUCTION = (
    "Your previous message was cut off. Continue it exactly where it stops: do not repeat "
    "any of it, do not add a preface or acknowledge this request, output only the rest."
)


#: Seconds from sending a hop's request to its first text or tool call, applied to every hop
#: that sets none. Chunks that carry neither - OpenAI's opening role-only chunk, Anthropic's
#: ``message_start`` and ``ping``, keep-alives, a reasoning model's thinking - do not count,
#: so a primary that never answers, or answers only with keep-alives, is handed on. Generous
#: because reasoning models think before their first visible token (OpenAI's chat completions
#: send nothing on the wire meanwhile); raise it for long-thinking models.
DEFAULT_FIRST_TOKEN_TIMEOUT = 60.0

#: Seconds a stream may go quiet between two chunks once its first text or tool call has
#: arrived (any chunk then resets it), applied to every hop that sets none. Tokens of a
#: streaming answer come a few per second; a gap this long is a stalled stream.
DEFAULT_IDLE_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Hop(Generic[RequestT]):
    """One model in a chain, with its own limits.

    ``max_attempts`` caps attempts on this hop per call (1: never retried).
    ``timeout`` bounds one attempt from start to finish (default: none, a
    long answer may take minutes); ``first_token_timeout`` the wait from
    sending the request (when the client reports it through `request_sent`,
    else from the attempt's start) to the first text or tool call
    (`DEFAULT_FIRST_TOKEN_TIMEOUT`); ``idle_timeout`` each gap between chunks
    after that (`DEFAULT_IDLE_TIMEOUT`). None lifts a limit. With a call
    ``deadline`` the first-token wait is also capped by the deadline share
    (see `Policy`). ``context_window`` (tokens) lets a context-length failure skip hops no
    larger. ``continuation`` says how this hop continues a broken answer.
    ``require_finish``: a stream that ends without a finish reason is truncated.
    ``identity`` names the deployment for shared health (provider, model,
    endpoint; the hop's name if unset): hops with one identity share a circuit.
    ``weight`` is the hop's share of traffic inside a `Tier`.
    """

    target: Target[RequestT]
    name: str | None = None
    model: str | None = None
    max_attempts: int | None = None
    timeout: float | None = None
    first_token_timeout: float | None = DEFAULT_FIRST_TOKEN_TIMEOUT
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT
    context_window: int | None = None
    continuation: Strategy = "instruct"
    require_finish: bool = True
    identity: str | None = None
    weight: float = 1.0

    @property
    def circuit(self) -> str:
        """The identity its shared-health circuit is kept under."""
        return self.identity or self.name or "?"

    @property
    def time_limited(self) -> bool:
        """Whether a read on this hop can time out."""
        return any(
            t is not None for t in (self.timeout, self.first_token_timeout, self.idle_timeout)
        )


@dataclass(frozen=True, slots=True)
class Tier(Generic[RequestT]):
    """Equivalent deployments that share one place in a chain, picked by ``Hop.weight``.

    Each call picks one deployment at random in proportion to the weights
    (uniformly if they are all zero). When it fails, another deployment of the
    tier not yet failed in this call - and, with shared health, not open - is
    picked before the walk moves on to the next place in the chain.

    ``hops`` are `Hop`s or targets; given to an adapter, a tier holds that
    framework's models instead (``FallbackChatModel(models=[Tier([east,
    west]), backup])``), each with its weight on the adapter's own hop type.
    """

    hops: Sequence[Hop[RequestT] | Target[RequestT] | Any]
    name: str | None = None


class Chain(Generic[RequestT]):
    """An ordered, validated list of hops plus the policy and hooks that walk it.

    `stream` / `astream` walk it for one request. With ``health`` (a `Health`,
    which several chains may share) hops whose circuit is open are skipped. A
    `Tier` takes one place with several weighted deployments; ``rng`` makes
    the weighted picks and the backoff's jitter reproducible in tests.
    ``clock``, ``sleep`` and ``sleep_async`` are the chain's time (the real
    one by default): a test may pass a fake clock and sleepers that only move
    it, so retries and backoff run without waiting.
    """

    __slots__ = (
        "clock",
        "continue_instruction",
        "group_of",
        "groups",
        "health",
        "hook_failures",
        "hooks",
        "hops",
        "policy",
        "rng",
        "sleep",
        "sleep_async",
    )

    def __init__(
        self,
        hops: Sequence[Hop[RequestT] | Target[RequestT] | Tier[RequestT]],
        *,
        policy: Policy | None = None,
        hooks: Sequence[Hook] = (),
        continue_instruction: str = DEFAULT_CONTINUE_INSTRUCTION,
        health: Health | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        sleep_async: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if isinstance(hops, (str, bytes)) or not isinstance(hops, Sequence):
            raise ConfigurationError("hops", f"got {type(hops).__name__}", "a list of hops")
        if not hops:
            raise ConfigurationError("hops", "the chain is empty", "at least one hop")
        flat: list[Hop[RequestT]] = []
        groups: list[tuple[int, ...]] = []
        for i, item in enumerate(hops):
            members = _tier_members(f"hops[{i}]", item) if isinstance(item, Tier) else None
            checked = members or [(f"hops[{i}]", item)]
            groups.append(tuple(range(len(flat), len(flat) + len(checked))))
            flat += [_check_hop(where, hop) for where, hop in checked]
        self.hops: tuple[Hop[RequestT], ...] = _named(flat)
        self.groups = tuple(groups)
        self.group_of = tuple(g for g, members in enumerate(groups) for _ in members)
        self.rng = rng or random.Random()
        if policy is not None and not isinstance(policy, Policy):
            raise ConfigurationError("policy", f"got {type(policy).__name__}", "a Policy")
        self.policy = policy or Policy()
        if callable(hooks) or isinstance(hooks, (str, bytes)) or not isinstance(hooks, Sequence):
            raise ConfigurationError(
                "hooks",
                f"got {'a single hook' if callable(hooks) else type(hooks).__name__}",
                "a list of hooks, e.g. hooks=[hook]",
            )
        for i, hook in enumerate(hooks):
            if not callable(hook):
                raise ConfigurationError(
                    f"hooks[{i}]", "not callable", "a callable taking an event"
                )
        self.hooks = tuple(hooks)
        if not isinstance(continue_instruction, str) or not continue_instruction.strip():
            raise ConfigurationError("continue_instruction", "empty", "a non-empty string")
        self.continue_instruction = continue_instruction
        if health is not None and not isinstance(health, Health):
            raise ConfigurationError("health", f"got {type(health).__name__}", "a Health, or None")
        self.health = health
        self.clock = clock
        for name, given in (("sleep", sleep), ("sleep_async", sleep_async)):
            if not callable(given):
                raise ConfigurationError(name, "not callable", "a function of seconds")
        self.sleep = sleep
        self.sleep_async = sleep_async
        self.hook_failures = HookFailures()
        check_acyclic(self)

    def stream(
        self,
        request: RequestT,
        *,
        hooks: Sequence[Hook] = (),
        checks: Sequence[CheckLike] = (),
        whole: bool = False,
    ) -> CallStream[RequestT]:
        """Walk the chain for ``request``, synchronously; iterate the result for deltas.

        ``hooks`` and ``checks`` are added to the chain's own (its policy's
        checks) for this call only. ``whole=True`` says nobody reads the
        answer before it is complete: a hop whose stream nothing needs (no
        first-token or idle limit, no hedge) is then asked for its whole reply
        through its target's ``reply`` (see `Target`), where it has one.
        """
        return CallStream(self, request, hooks, as_checks(checks), whole)

    def astream(
        self,
        request: RequestT,
        *,
        hooks: Sequence[Hook] = (),
        checks: Sequence[CheckLike] = (),
        whole: bool = False,
    ) -> AsyncCallStream[RequestT]:
        """Walk the chain for ``request`` on the running event loop; ``async for`` the result.

        ``hooks``, ``checks`` and ``whole`` as for `stream` (``areply`` for a whole reply).
        """
        return AsyncCallStream(self, request, hooks, as_checks(checks), whole)

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, "hook_failures"):  # the last slot __init__ fills: the chain is built
            raise AttributeError(
                f"a Chain cannot be changed once built (tried to set {name!r}); "
                "build a new Chain with the hops, policy and hooks you want"
            )
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Chain cannot be changed once built (tried to delete {name!r})")

    def __repr__(self) -> str:
        return f"Chain({[h.name for h in self.hops]!r})"


def check_acyclic(chain: Chain[Any]) -> None:
    """Raise `ConfigurationError` if ``chain`` reaches itself through nested chains."""
    path: list[int] = []

    def visit(node: Chain[Any], where: str) -> None:
        if id(node) in path:
            raise ConfigurationError(
                where, "the chain contains itself", "a chain whose hops do not lead back to it"
            )
        path.append(id(node))
        for hop in node.hops:
            inner = getattr(hop.target, "fallback_chain", None)
            if isinstance(inner, Chain):
                visit(inner, f"{where}.{hop.name}")
        path.pop()

    visit(chain, "hops")


def _check_hop(where: str, hop: object) -> Hop[Any]:
    if not isinstance(hop, Hop):
        hop = Hop(target=hop)  # type: ignore[arg-type]
    if not isinstance(hop.target, Target):
        raise ConfigurationError(
            f"{where}.target",
            f"{type(hop.target).__name__} is not a supported target",
            "an object with stream(request, continuation) and astream(request, continuation) "
            "(the adapters wrap chat models into one)",
        )
    for field in ("timeout", "first_token_timeout", "idle_timeout"):
        check_seconds(f"{where}.{field}", getattr(hop, field))
    if not isinstance(hop.weight, (int, float)) or hop.weight < 0 or not math.isfinite(hop.weight):
        raise ConfigurationError(f"{where}.weight", f"got {hop.weight!r}", "a finite number >= 0")
    for field in ("max_attempts", "context_window"):
        check_count(f"{where}.{field}", getattr(hop, field), allow_none=True)
    if hop.continuation not in get_args(Strategy):
        raise ConfigurationError(
            f"{where}.continuation",
            f"got {hop.continuation!r}",
            "'prefill', 'instruct' or 'continue_final_message'",
        )
    if hop.name is not None and (not isinstance(hop.name, str) or not hop.name):
        raise ConfigurationError(f"{where}.name", f"got {hop.name!r}", "a non-empty string")
    return hop


def _tier_members(where: str, tier: Tier[Any]) -> list[tuple[str, object]]:
    if isinstance(tier.hops, (str, bytes)) or not isinstance(tier.hops, Sequence) or not tier.hops:
        raise ConfigurationError(f"{where}.hops", "no deployments", "a non-empty list of hops")
    return [(f"{where}.hops[{j}]", hop) for j, hop in enumerate(tier.hops)]


def _named(hops: list[Hop[Any]]) -> tuple[Hop[Any], ...]:
    """Give every hop a unique name: explicit names must be unique, derived ones are numbered."""
    explicit: dict[str, int] = {}
    for i, hop in enumerate(hops):
        if hop.name is None:
            continue
        if hop.name in explicit:
            raise ConfigurationError(
                f"hops[{i}].name",
                f"{hop.name!r} is already the name of hops[{explicit[hop.name]}]",
                "a unique name per hop",
            )
        explicit[hop.name] = i
    taken = set(explicit)
    named = []
    for i, hop in enumerate(hops):
        if hop.name is None:
            base = hop.model or getattr(hop.target, "name", None) or f"hop{i}"
            hop = replace(hop, name=unique_name(str(base), taken))
        named.append(hop)
    return tuple(named)
