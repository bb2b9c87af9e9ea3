"""What `RedisStore` sends and reads: keys, the script's arguments and reply, snapshots, clients.

Times cross the wire only as milliseconds relative to the script's "now", so
the local clock (monotonic) and Redis's (``TIME``) never need to agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis as _redis
import redis.asyncio as _aredis
from redis.asyncio.retry import Retry as _AsyncRetry
from redis.backoff import NoBackoff as _NoBackoff
from redis.retry import Retry as _Retry

from ._circuit import Admission, Breaker, Circuit, CircuitOutcome, CircuitState
from ._errors import ConfigurationError

if TYPE_CHECKING:
    from ._steps import Consult

__all__ = [
    "Request",
    "Wire",
    "check_options",
    "make_async_client",
    "make_client",
]

_SCHEMES = ("redis://", "rediss://", "unix://")
_FIELDS = ("s", "f", "e", "r", "p")
_OUTCOME_ON_WIRE: dict[CircuitOutcome, str] = {"success": "1", "failure": "0", "neutral": ""}

Args = list[str | float | int]


@dataclass(frozen=True, slots=True)
class Request:
    """One call of the script: its KEYS and ARGV, and the identities in the script's order."""

    keys: list[str]
    args: Args
    names: list[str]


class Wire:
    """The keys under one prefix, and the conversions to and from the script."""

    def __init__(self, prefix: str, ttl: float, clock: Callable[[], float] | None) -> None:
        self.prefix, self.ttl, self.clock = prefix, ttl, clock

    def key(self, kind: str, identity: str = "") -> str:
        """The Redis key of ``kind`` (``identities``, ``circuit``, ``calls``, ``fails``)."""
        tag = f"{{{self.prefix}}}"
        return f"{tag}:{kind}" if kind == "identities" else f"{tag}:{kind}:{identity}"

    def request(self, breaker: Breaker, step: Consult, now: float) -> Request:
        """KEYS, ARGV and the identities (in script order) for consulting on ``step`` at ``now``."""
        verdicts, candidates = step.verdicts, step.candidates
        names = list(dict.fromkeys([*(v.identity for v in verdicts), *candidates]))
        number = {name: i + 1 for i, name in enumerate(names)}
        keys = [self.key("identities")]
        for name in names:
            keys += [self.key("circuit", name), self.key("calls", name), self.key("fails", name)]
        args: Args = [
            "" if self.clock is None else self.clock() * 1000,
            breaker.failure_threshold,
            breaker.cooldown * 1000,
            "" if breaker.failure_rate is None else breaker.failure_rate,
            breaker.window * 1000,
            breaker.min_calls,
            max(self.ttl, breaker.window, breaker.cooldown) * 1000,
            int(step.force),
            len(names),
            *names,
            len(verdicts),
        ]
        for v in verdicts:
            outcome = _OUTCOME_ON_WIRE[v.outcome]
            retry = "" if v.retry_after is None else v.retry_after * 1000
            args += [number[v.identity], outcome, max(0.0, now - v.at) * 1000, v.error or "", retry]
        args += [len(candidates), *(number[c] for c in candidates)]
        return Request(keys, args, names)

    def reply(
        self, reply: list[Any], request: Request, candidates: Sequence[str], now: float
    ) -> tuple[Admission, dict[str, Circuit]]:
        """The script's answer to ``request``, and the circuits it touched, times as of ``now``."""
        names = request.names
        circuits = {}
        for i, name in enumerate(names):
            state, failures, error, reopen, probing = (
                _text(x) for x in reply[2 + 5 * i : 7 + 5 * i]
            )
            circuits[name] = _circuit(state, failures, error, reopen, probing, now)
        waits = tuple(float(_text(w)) / 1000 for w in reply[2 + 5 * len(names) :])
        chosen = int(reply[0])
        admission = Admission(
            None if chosen < 0 else chosen,
            int(reply[1]) == 1,
            waits,
            tuple(circuits[c].state for c in candidates),
        )
        return admission, circuits

    def fetch(self, client: _redis.Redis, now: Callable[[], float]) -> dict[str, Circuit]:
        """Every circuit under the prefix, as Redis has it (two round trips)."""
        names = sorted(_text(n) for n in client.smembers(self.key("identities")))
        pipe = client.pipeline(transaction=False)
        if self.clock is None:
            pipe.time()
        for name in names:
            pipe.hmget(self.key("circuit", name), _FIELDS)
        results = pipe.execute()
        if self.clock is None:
            seconds, micros = results.pop(0)
            redis_now = seconds * 1000 + micros / 1000
        else:
            redis_now = self.clock() * 1000
        local, circuits = now(), {}
        for name, values in zip(names, results, strict=True):
            if values[0] is None:
                continue  # expired since
            state, failures, error, reopen, probing = (_text(x) for x in values)
            if reopen:
                reopen = str(float(reopen) - redis_now)
            circuits[name] = _circuit(state, failures, error, reopen, probing, local)
        return circuits


def make_client(url: str, timeout: float) -> _redis.Redis:
    """A sync client for ``url``: ``timeout`` on connecting and on every reply, no retries."""
    return _redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=_Retry(_NoBackoff(), 0)
    )


def make_async_client(url: str, timeout: float) -> _aredis.Redis:
    """The asyncio client like `make_client`; it belongs to the running event loop."""
    return _aredis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=_AsyncRetry(_NoBackoff(), 0),
    )


def check_options(
    url: str | None, client: object, async_client: object, prefix: object, clock: object
) -> None:
    """Refuse settings under which a store could not connect, or could block a call."""
    if (url is None) == (client is None):
        raise ConfigurationError(
            "RedisStore", "needs exactly one of url and client", "url='redis://...', or client="
        )
    if url is not None and (not isinstance(url, str) or not url.startswith(_SCHEMES)):
        raise ConfigurationError(
            "RedisStore.url", f"got {url!r}", "a redis://, rediss:// (TLS) or unix:// URL"
        )
    if client is not None and not isinstance(client, _redis.Redis):
        raise ConfigurationError(
            "RedisStore.client", f"got {type(client).__name__}", "a redis.Redis"
        )
    if async_client is not None and not isinstance(async_client, _aredis.Redis):
        raise ConfigurationError(
            "RedisStore.async_client", f"got {type(async_client).__name__}", "a redis.asyncio.Redis"
        )
    for name, given in (("client", client), ("async_client", async_client)):
        if given is not None:
            _check_timeouts(f"RedisStore.{name}", given.get_connection_kwargs())
    if not isinstance(prefix, str) or not prefix or any(c in prefix for c in "{}"):
        raise ConfigurationError(
            "RedisStore.prefix", f"got {prefix!r}", "a non-empty string without braces"
        )
    if clock is not None and not callable(clock):
        raise ConfigurationError("RedisStore.clock", "not callable", "a function -> seconds")


def _check_timeouts(name: str, kwargs: Mapping[str, Any]) -> None:
    if not kwargs.get("socket_timeout"):
        raise ConfigurationError(
            name,
            "has no socket_timeout, so a frozen Redis would block calls",
            "a client made with socket_timeout=<seconds> (e.g. 0.05), or url=",
        )
    retry = kwargs.get("retry")
    if retry is not None and retry.get_retries() > 0:
        raise ConfigurationError(
            name,
            f"retries failed commands {retry.get_retries()} times",
            "retry=Retry(NoBackoff(), 0): the store falls back at once and reconnects itself",
        )


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _circuit(
    state: str, failures: str, error: str, reopen: str, probing: str, now: float
) -> Circuit:
    """A circuit from its Redis fields, ``reopen`` in ms from now, times in the local clock."""
    return Circuit(
        state=CircuitState(state or "closed"),
        consecutive_failures=int(failures or 0),
        last_error=error or None,
        reopen_at=now + float(reopen) / 1000 if reopen else None,
        probing=probing == "1",
    )
