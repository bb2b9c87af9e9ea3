"""Health shared by every process and replica through Redis: `RedisStore`.

    from fallback_core import Breaker, Health
    from fallback_core.redis import RedisStore

    health = Health(Breaker(failure_threshold=5, cooldown=30),
                    store=RedisStore("rediss://cache.internal:6380/0", prefix="chat"))

Every chain, process and replica whose `Health` points at the same Redis and
``prefix`` shares each hop identity's circuit: failure counts, the open state
and its reopen time, a Retry-After's hold, and the half-open probe, a lease
that exactly one caller in the fleet holds per cooldown. Before each attempt
the walk makes one round trip - a Lua script records the verdicts of the
attempts that ended and admits a hop, atomically - so an admission always
sees the fleet's state at that moment.

Redis lost, slow or flapping never fails or blocks a call for longer than
``timeout``: the first operation that fails or times out switches the store
to this process's copy of the circuits (the call gets a `HealthStoreChanged`
event and the store logs a warning), later calls use it without touching
Redis, and a background thread pings Redis every ``retry_interval`` seconds.
When it answers, the verdicts recorded meanwhile are handed over (the
``max_pending`` most recent), the local copy is refreshed from Redis, and the
next call hears that the store is back.

Transitions reach this process's listeners (and so the Prometheus gauge) at
once when this process causes or sees them, and within ``refresh`` seconds
when another process does: while the `Health` has listeners, the background
thread re-reads every circuit that often.

Needs redis-py 5 or later: ``pip install 'fallback-chain[redis]'``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._circuit import Admission, Breaker, Circuit, CircuitState, Transition, Verdict
from ._errors import ConfigurationError
from ._redis_script import CONSULT
from ._store import LocalStore

try:
    import redis as _redis
    import redis.asyncio as _aredis
    from redis.asyncio.retry import Retry as _AsyncRetry
    from redis.backoff import NoBackoff as _NoBackoff
    from redis.exceptions import RedisError as _RedisError
    from redis.retry import Retry as _Retry
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "fallback_core.redis needs redis-py: pip install 'fallback-chain[redis]'"
    ) from exc

if TYPE_CHECKING:
    from ._health import Health

__all__ = ["RedisStore"]

logger = logging.getLogger("fallback_core")

_SCHEMES = ("redis://", "rediss://", "unix://")
_FAILURES = (_RedisError, OSError)
_FIELDS = ("s", "f", "e", "r", "p")


class RedisStore:
    """Circuits kept in Redis, shared by everyone using the same Redis and ``prefix``.

    Give ``url`` (``redis://``, ``rediss://`` for TLS, ``unix://``): the store
    makes a sync client, and an asyncio client per event loop for async calls,
    with ``timeout`` on every operation and no retries. Or give ``client`` (a
    ``redis.Redis``, e.g. from a ``Sentinel``) and optionally ``async_client``
    (a ``redis.asyncio.Redis``); each must have a ``socket_timeout`` and no
    retries of its own. Without an asyncio client, async calls run the sync
    client on a worker thread.

    ``ttl`` is how long an unused identity's keys live (longer while open);
    ``clock`` replaces Redis's clock, in seconds - for tests.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: _redis.Redis | None = None,
        async_client: _aredis.Redis | None = None,
        prefix: str = "fallback",
        timeout: float = 0.05,
        refresh: float = 1.0,
        retry_interval: float = 1.0,
        ttl: float = 3600.0,
        max_pending: int = 1000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        _check_options(url, client, async_client, prefix, clock)
        for name, value in [
            ("timeout", timeout),
            ("refresh", refresh),
            ("retry_interval", retry_interval),
            ("ttl", ttl),
        ]:
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigurationError(f"RedisStore.{name}", f"got {value!r}", "seconds > 0")
        if not isinstance(max_pending, int) or max_pending < 0:
            raise ConfigurationError(
                "RedisStore.max_pending", f"got {max_pending!r}", "an int >= 0"
            )
        self.url, self.prefix, self.timeout = url, prefix, float(timeout)
        self.refresh, self.retry_interval, self.ttl = float(refresh), float(retry_interval), ttl
        self._clock = clock
        if client is None:
            assert url is not None
            client = _redis.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=_Retry(_NoBackoff(), 0),
            )
        self.client = client
        self._script = client.register_script(CONSULT)
        self._async_client = async_client
        self._async_scripts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        self._mirror = LocalStore()
        self._health: Health | None = None
        self._breaker = Breaker()
        self._lock = threading.Lock()
        self._up = True
        self._notice: tuple[bool, BaseException | None] | None = None
        self._pending: collections.deque[Verdict] = collections.deque(maxlen=max_pending)
        self.losses = 0
        """How many times Redis was lost (each followed by local health until it answered)."""
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    @property
    def available(self) -> bool:
        """Whether calls consult Redis now (False: this process's copy, until Redis answers)."""
        return self._up

    # -- the Store protocol ----------------------------------------------------

    def attach(self, health: Health) -> None:
        self._health = health
        self._breaker = health.breaker
        self._mirror.attach(health)

    def consult(
        self,
        breaker: Breaker,
        verdicts: Sequence[Verdict],
        candidates: Sequence[str],
        *,
        force: bool,
    ) -> tuple[Admission, list[Transition]]:
        self._started()
        if not self._up:
            return self._locally(breaker, verdicts, candidates, force, None)
        keys, args, names = self._request(breaker, verdicts, candidates, force)
        try:
            reply = self._script(keys=keys, args=args)
        except _FAILURES as exc:
            return self._locally(breaker, verdicts, candidates, force, exc)
        return self._answer(reply, names, candidates)

    async def aconsult(
        self,
        breaker: Breaker,
        verdicts: Sequence[Verdict],
        candidates: Sequence[str],
        *,
        force: bool,
    ) -> tuple[Admission, list[Transition]]:
        script = self._async_script()
        if script is None:
            return await asyncio.to_thread(self.consult, breaker, verdicts, candidates, force=force)
        self._started()
        if not self._up:
            return self._locally(breaker, verdicts, candidates, force, None)
        keys, args, names = self._request(breaker, verdicts, candidates, force)
        try:
            reply = await script(keys=keys, args=args)
        except _FAILURES as exc:
            return self._locally(breaker, verdicts, candidates, force, exc)
        return self._answer(reply, names, candidates)

    def circuits(self) -> Mapping[str, Circuit]:
        """Every circuit as Redis has it now (this process's copy while Redis is lost)."""
        self._started()
        if self._up:
            try:
                self._announce(self._mirror.replace(self._fetch()))
            except _FAILURES as exc:
                self._lose(exc)
        return self._mirror.circuits()

    def close(self) -> None:
        """Stop the background thread and close the sync client's connections."""
        self._closed = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.client.close()

    def __enter__(self) -> RedisStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.url or type(self.client).__name__
        return f"RedisStore({where!r}, prefix={self.prefix!r})"

    # -- one round trip ----------------------------------------------------------

    def key(self, kind: str, identity: str = "") -> str:
        """The Redis key of ``kind`` (``identities``, ``circuit``, ``calls``, ``fails``)."""
        tag = f"{{{self.prefix}}}"
        return f"{tag}:{kind}" if kind == "identities" else f"{tag}:{kind}:{identity}"

    def _request(
        self, breaker: Breaker, verdicts: Sequence[Verdict], candidates: Sequence[str], force: bool
    ) -> tuple[list[str], list[str | float | int], list[str]]:
        names = list(dict.fromkeys([*(v.identity for v in verdicts), *candidates]))
        number = {name: i + 1 for i, name in enumerate(names)}
        keys = [self.key("identities")]
        for name in names:
            keys += [self.key("circuit", name), self.key("calls", name), self.key("fails", name)]
        now = self._local_now()
        ttl = max(self.ttl, breaker.window, breaker.cooldown) * 1000
        args: list[str | float | int] = [
            "" if self._clock is None else self._clock() * 1000,
            breaker.failure_threshold,
            breaker.cooldown * 1000,
            "" if breaker.failure_rate is None else breaker.failure_rate,
            breaker.window * 1000,
            breaker.min_calls,
            ttl,
            int(force),
            len(names),
            *names,
            len(verdicts),
        ]
        for v in verdicts:
            outcome = "" if v.outcome is None else "1" if v.outcome else "0"
            retry = "" if v.retry_after is None else v.retry_after * 1000
            args += [number[v.identity], outcome, max(0.0, now - v.at) * 1000, v.error or "", retry]
        args += [len(candidates), *(number[c] for c in candidates)]
        return keys, args, names

    def _answer(
        self, reply: list[Any], names: list[str], candidates: Sequence[str]
    ) -> tuple[Admission, list[Transition]]:
        now = self._local_now()
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
        changes = self._mirror.replace(circuits)
        return self._with_notice(admission), changes

    # -- without Redis -------------------------------------------------------------

    def _locally(
        self,
        breaker: Breaker,
        verdicts: Sequence[Verdict],
        candidates: Sequence[str],
        force: bool,
        error: BaseException | None,
    ) -> tuple[Admission, list[Transition]]:
        if error is not None:
            self._lose(error)
        with self._lock:
            self._pending.extend(verdicts)
        admission, changes = self._mirror.consult(breaker, verdicts, candidates, force=force)
        return self._with_notice(admission), changes

    def _lose(self, error: BaseException) -> None:
        with self._lock:
            if not self._up:
                return
            self._up = False
            self.losses += 1
            self._notice = (False, error)
        logger.warning(
            "fallback_core: %r lost (%s: %s); health is kept in this process until it answers",
            self,
            type(error).__name__,
            error,
        )
        self._wake.set()

    def _with_notice(self, admission: Admission) -> Admission:
        with self._lock:
            notice, self._notice = self._notice, None
        if notice is None:
            return admission
        return Admission(
            admission.chosen,
            admission.probe,
            admission.waits,
            admission.states,
            store_up=notice[0],
            store_error=notice[1],
        )

    # -- in the background ---------------------------------------------------------

    def _started(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            if self._pid != os.getpid():  # forked: the parent's loops and thread are not ours
                self._pid = os.getpid()
                self._async_scripts = weakref.WeakKeyDictionary()
            self._thread = threading.Thread(
                target=self._run, name=f"fallback-redis-{self.prefix}", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.refresh if self._up else self.retry_interval)
            self._wake.clear()
            if self._closed:
                return
            if not self._up:
                self._reconnect()
            elif self._health is not None and self._health.listeners:
                self.circuits()

    def _reconnect(self) -> None:
        try:
            self.client.ping()
            self._hand_over()
            circuits = self._fetch()
        except _FAILURES:
            return
        with self._lock:
            self._up = True
            self._notice = (True, None)
        logger.warning("fallback_core: %r answers again; health is shared once more", self)
        self._announce(self._mirror.replace(circuits))
        try:
            self._hand_over()  # verdicts that arrived while we were reconnecting
        except _FAILURES as exc:
            self._lose(exc)

    def _hand_over(self) -> None:
        with self._lock:
            pending = list(self._pending)
            self._pending.clear()
        if not pending:
            return
        keys, args, _ = self._request(self._breaker, pending, (), False)
        try:
            self._script(keys=keys, args=args)
        except _FAILURES:
            with self._lock:
                self._pending.extendleft(reversed(pending))
            raise

    def _fetch(self) -> dict[str, Circuit]:
        """Every circuit under the prefix, as Redis has it: two round trips."""
        names = sorted(_text(n) for n in self.client.smembers(self.key("identities")))
        pipe = self.client.pipeline(transaction=False)
        if self._clock is None:
            pipe.time()
        for name in names:
            pipe.hmget(self.key("circuit", name), _FIELDS)
        results = pipe.execute()
        if self._clock is None:
            seconds, micros = results.pop(0)
            redis_now = seconds * 1000 + micros / 1000
        else:
            redis_now = self._clock() * 1000
        now, circuits = self._local_now(), {}
        for name, values in zip(names, results, strict=True):
            if values[0] is None:
                continue  # expired since
            state, failures, error, reopen, probing = (_text(x) for x in values)
            if reopen:
                reopen = str(float(reopen) - redis_now)
            circuits[name] = _circuit(state, failures, error, reopen, probing, now)
        return circuits

    def _async_script(self) -> Any:
        loop = asyncio.get_running_loop()
        script = self._async_scripts.get(loop)
        if script is None:
            client = self._async_client
            if client is None and self.url is not None:
                client = _aredis.Redis.from_url(
                    self.url,
                    socket_timeout=self.timeout,
                    socket_connect_timeout=self.timeout,
                    retry=_AsyncRetry(_NoBackoff(), 0),
                )
            if client is None:
                return None
            script = self._async_scripts[loop] = client.register_script(CONSULT)
        return script

    def _announce(self, changes: list[Transition]) -> None:
        if changes and self._health is not None:
            self._health.announce(changes)

    def _local_now(self) -> float:
        return self._mirror.clock()


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


def _check_options(
    url: str | None,
    client: object,
    async_client: object,
    prefix: object,
    clock: object,
) -> None:
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
