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
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._circuit import Admission, Breaker, Circuit, Transition, Verdict
from ._packages import needs_extra
from ._redis_script import CONSULT
from ._steps import Consult
from ._store import Consulted, LocalStore
from ._valid import check_count, check_seconds

with needs_extra("fallback_core.redis", "redis-py", "redis"):
    import redis as _redis
    import redis.asyncio as _aredis
    from redis.exceptions import RedisError as _RedisError

from ._redis_wire import Request, Wire, check_options, make_async_client, make_client

if TYPE_CHECKING:
    from ._health import Health

__all__ = ["RedisStore"]

logger = logging.getLogger("fallback_core")

_FAILURES = (_RedisError, OSError)


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
        check_options(url, client, async_client, prefix, clock)
        for name, value in [
            ("timeout", timeout),
            ("refresh", refresh),
            ("retry_interval", retry_interval),
            ("ttl", ttl),
        ]:
            check_seconds(f"RedisStore.{name}", value, allow_none=False)
        check_count("RedisStore.max_pending", max_pending, minimum=0)
        self.url, self.prefix, self.timeout = url, prefix, float(timeout)
        self.refresh, self.retry_interval, self.ttl = float(refresh), float(retry_interval), ttl
        self._wire = Wire(prefix, ttl, clock)
        if client is None:
            assert url is not None
            client = make_client(url, timeout)
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
        self.dropped = 0
        """Verdicts recorded while Redis was lost that were never handed over (past max_pending)."""
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

    def consult(self, breaker: Breaker, step: Consult) -> Consulted:
        request = self._request(breaker, step)
        reply = None if request is None else _run(self._script, request)
        return self._settle(breaker, step, request, reply)

    async def aconsult(self, breaker: Breaker, step: Consult) -> Consulted:
        script = self._async_script()
        if script is None:
            return await asyncio.to_thread(self.consult, breaker, step)
        request = self._request(breaker, step)
        reply = None if request is None else await _arun(script, request)
        return self._settle(breaker, step, request, reply)

    def circuits(self) -> Mapping[str, Circuit]:
        """Every circuit as Redis has it now (this process's copy while Redis is lost)."""
        self._started()
        if self._up:
            try:
                self._announce(self._mirror.replace(self._wire.fetch(self.client, self._local_now)))
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

    def key(self, kind: str, identity: str = "") -> str:
        """The Redis key of ``kind`` (``identities``, ``circuit``, ``calls``, ``fails``)."""
        return self._wire.key(kind, identity)

    # -- the consultation, around the one round trip the drivers perform ---------

    def _request(self, breaker: Breaker, step: Consult) -> Request | None:
        """What to send Redis for ``step``; None while Redis is lost (the mirror answers)."""
        self._started()
        return self._wire.request(breaker, step, self._local_now()) if self._up else None

    def _settle(
        self,
        breaker: Breaker,
        step: Consult,
        request: Request | None,
        reply: list[Any] | BaseException | None,
    ) -> Consulted:
        """The answer to ``step`` from Redis's ``reply``, or from the mirror if there was none."""
        if request is None or reply is None:
            return self._locally(breaker, step, None)
        if isinstance(reply, BaseException):
            return self._locally(breaker, step, reply)
        admission, circuits = self._wire.reply(reply, request, step.candidates, self._local_now())
        changes = self._mirror.replace(circuits)
        return self._with_notice(admission), changes

    # -- without Redis -------------------------------------------------------------

    def _locally(self, breaker: Breaker, step: Consult, error: BaseException | None) -> Consulted:
        if error is not None:
            self._lose(error)
        with self._lock:
            room = (self._pending.maxlen or 0) - len(self._pending)
            self.dropped += max(0, len(step.verdicts) - room)
            self._pending.extend(step.verdicts)
        admission, changes = self._mirror.consult(breaker, step)
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
            circuits = self._wire.fetch(self.client, self._local_now)
        except _FAILURES:
            return
        with self._lock:
            self._up = True
            self._notice = (True, None)
        logger.warning(
            "fallback_core: %r answers again; health is shared once more (%d verdicts from "
            "while it was lost dropped so far, past max_pending)",
            self,
            self.dropped,
        )
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
        request = self._wire.request(self._breaker, Consult(tuple(pending), ()), self._local_now())
        try:
            self._script(keys=request.keys, args=request.args)
        except _FAILURES:
            with self._lock:
                self._pending.extendleft(reversed(pending))
            raise

    def _async_script(self) -> Any:
        loop = asyncio.get_running_loop()
        script = self._async_scripts.get(loop)
        if script is None:
            client = self._async_client
            if client is None and self.url is not None:
                client = make_async_client(self.url, self.timeout)
            if client is None:
                return None
            script = self._async_scripts[loop] = client.register_script(CONSULT)
        return script

    def _announce(self, changes: list[Transition]) -> None:
        if changes and self._health is not None:
            self._health.announce(changes)

    def _local_now(self) -> float:
        return self._mirror.clock()


def _run(script: Any, request: Request) -> list[Any] | BaseException:
    """The script's reply to ``request``, or the Redis failure that stood in for it."""
    try:
        return script(keys=request.keys, args=request.args)  # type: ignore[no-any-return]
    except _FAILURES as exc:
        return exc


async def _arun(script: Any, request: Request) -> list[Any] | BaseException:
    """`_run` with the asyncio client's script."""
    try:
        return await script(keys=request.keys, args=request.args)  # type: ignore[no-any-return]
    except _FAILURES as exc:
        return exc
