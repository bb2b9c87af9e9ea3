"""Redis killed, frozen or restarted mid-run: calls go on, health goes on locally, then re-syncs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
import redis
import redis.asyncio
from prometheus_client import CollectorRegistry
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from fallback_core import Breaker, Chain, CircuitState, Health, HealthStoreChanged, Hop
from fallback_core.prometheus import PrometheusHook
from fallback_core.redis import RedisStore
from fallback_core.testing.redis_server import RedisServer

from ..core.conftest import Drive
from ..core.errors import openai_error
from ..core.scripted import Scripted, ok
from .conftest import SLACK, Clock

BREAKER = Breaker(failure_threshold=3, cooldown=30)


class Counting(redis.Connection):
    """A sync connection that notes the name of every command it sends."""

    sent: ClassVar[list[str]] = []

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        Counting.sent.append(str(args[0]).upper())
        super().send_command(*args, **kwargs)


class AsyncCounting(redis.asyncio.Connection):
    """An asyncio connection that notes the name of every command it sends."""

    async def send_command(self, *args: Any, **kwargs: Any) -> None:
        Counting.sent.append(str(args[0]).upper())
        await super().send_command(*args, **kwargs)


def counting_store(
    server: RedisServer, prefix: str, timeout: float = 0.05, **options: Any
) -> RedisStore:
    """A store whose clients note each command, with ``timeout`` and no retries."""
    Counting.sent = []
    common: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }
    pool = redis.ConnectionPool(connection_class=Counting, retry=Retry(NoBackoff(), 0), **common)
    apool = redis.asyncio.ConnectionPool(
        connection_class=AsyncCounting, retry=AsyncRetry(NoBackoff(), 0), **common
    )
    sync, aio = redis.Redis(connection_pool=pool), redis.asyncio.Redis(connection_pool=apool)
    return RedisStore(client=sync, async_client=aio, prefix=prefix, **options)


def until(condition: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    """Wait for ``condition`` (a synchronisation, not a speed check: the limit is generous)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def chain_on(
    health: Health, *hooks: Callable[[object], object]
) -> tuple[Chain[object], Scripted, list[object]]:
    events: list[object] = []
    primary = Scripted(openai_error(503), name="p")
    hops = [Hop(primary, name="p", max_attempts=1), Hop(Scripted(ok("b")), name="b")]
    return Chain(hops, health=health, hooks=[events.append, *hooks]), primary, events


def store_news(events: list[object]) -> list[bool]:
    return [e.available for e in events if isinstance(e, HealthStoreChanged)]


def test_redis_killed_mid_run_health_goes_on_locally_and_resyncs(
    own_redis: RedisServer, prefix: str, drive: Drive
) -> None:
    """Redis killed: every call is served, the circuit opens locally; restarted (empty), the
    failures learnt meanwhile are handed over, so another process sees the circuit open."""
    clock = Clock()
    store = RedisStore(
        own_redis.url, prefix=prefix, clock=clock, retry_interval=0.05, timeout=SLACK
    )
    health = Health(BREAKER, store=store, clock=clock)
    registry = CollectorRegistry()
    chain, primary, events = chain_on(health, PrometheusHook(registry))

    def metric(name: str) -> float | None:
        return registry.get_sample_value(f"fallback_health_store_{name}")

    with store:
        assert drive(chain).text == "b"
        own_redis.kill()
        for _ in range(4):
            assert drive(chain).text == "b"
        assert len(primary.calls) == 3, "the circuit opened locally at the threshold"
        assert store_news(events) == [False]
        assert (store.available, store.losses) == (False, 1)
        assert (metric("lost_total"), metric("available")) == (1, 0)
        own_redis.start()
        until(lambda: store.available, "the store to reconnect")
        assert drive(chain).text == "b"
        assert store_news(events) == [False, True]
        assert (metric("lost_total"), metric("available")) == (1, 1)
        with RedisStore(own_redis.url, prefix=prefix, clock=clock, timeout=SLACK) as other_store:
            other = Health(BREAKER, store=other_store, clock=clock)
            assert other.health()["p"].state is CircuitState.OPEN
            assert not other.admit("p"), "the fleet shares what this process learnt alone"


Serve = Callable[[Chain[object], int], list[str]]


@pytest.fixture(params=["sync", "async"])
def serve(request: pytest.FixtureRequest) -> Iterator[Serve]:
    """Makes ``n`` calls through the sync driver, or the async one on one event loop."""
    if request.param == "sync":
        yield lambda chain, n: ["".join(d.text for d in chain.stream("r")) for _ in range(n)]
        return
    loop = asyncio.new_event_loop()

    async def calls(chain: Chain[object], n: int) -> list[str]:
        texts = []
        for _ in range(n):
            texts.append("".join([d.text async for d in chain.astream("r")]))
        return texts

    yield lambda chain, n: loop.run_until_complete(calls(chain, n))
    loop.close()


def test_frozen_redis_delays_one_call_by_its_timeout_and_no_other(
    own_redis: RedisServer, prefix: str, serve: Serve
) -> None:
    """Redis frozen (SIGSTOP): one consultation times out, every later call uses local health
    without sending Redis anything; thawed, the store reconnects."""
    store = counting_store(own_redis, prefix, retry_interval=0.05)
    health = Health(BREAKER, store=store)
    chain, _, events = chain_on(health)
    with store:
        assert serve(chain, 1) == ["b"]
        own_redis.freeze()
        try:
            before = len(Counting.sent)
            assert serve(chain, 5) == ["b"] * 5
            during = [c for c in Counting.sent[before:] if c == "EVALSHA"]
        finally:
            own_redis.thaw()
        assert len(during) == 1, "only the first call waited on the frozen Redis"
        assert store_news(events) == [False]
        until(lambda: store.available, "the store to reconnect")
        assert health.health()["p"].state is CircuitState.OPEN


def test_flapping_redis_never_fails_a_call(own_redis: RedisServer, prefix: str) -> None:
    """Redis killed and restarted over and over while calls run: every call is served."""
    store = RedisStore(own_redis.url, prefix=prefix, retry_interval=0.02, timeout=SLACK)
    chain, _, events = chain_on(Health(BREAKER, store=store))
    with store:
        for round_ in range(3):
            for _ in range(3):
                assert "".join(d.text for d in chain.stream("request")) == "b"
            own_redis.kill()
            assert "".join(d.text for d in chain.stream("request")) == "b"
            own_redis.start()
            until(lambda: store.available, f"reconnect {round_}")
    assert store.losses == 3
    assert store_news(events).count(False) == 3


def test_listeners_elsewhere_hear_a_transition_within_the_refresh(
    redis_server: RedisServer, prefix: str
) -> None:
    """A circuit opened by one process reaches another's listeners and Prometheus gauge
    within its refresh interval, without any call there."""
    heard: list[tuple[str, CircuitState]] = []
    registry = CollectorRegistry()
    with (
        RedisStore(redis_server.url, prefix=prefix, timeout=SLACK) as here_store,
        RedisStore(redis_server.url, prefix=prefix, refresh=0.05, timeout=SLACK) as there_store,
    ):
        here = Health(BREAKER, store=here_store)
        there = Health(
            BREAKER, store=there_store, listeners=[lambda t: heard.append((t.identity, t.new))]
        )
        PrometheusHook(registry).watch(there)
        for _ in range(3):
            here.record("p", "failure", "down")
        until(lambda: heard == [("p", CircuitState.OPEN)], "the other process to hear it")
        gauge = registry.get_sample_value("fallback_circuit_state", {"identity": "p"})
        assert gauge == 2


def test_keys_are_namespaced_and_expire(redis_server: RedisServer, prefix: str) -> None:
    """Every key sits under the {prefix} hash tag and expires: ttl when closed, longer when open."""
    client = redis.Redis.from_url(redis_server.url)
    breaker = Breaker(failure_threshold=2, cooldown=5, window=1)
    with RedisStore(redis_server.url, prefix=prefix, ttl=2, timeout=SLACK) as store:
        health = Health(breaker, store=store)
        health.record("closed-one", "failure")
        health.record("open-one", "failure")
        health.record("open-one", "failure")
        keys = sorted(k.decode() for k in client.keys(f"*{prefix}*"))
        assert keys == [
            f"{{{prefix}}}:circuit:closed-one",
            f"{{{prefix}}}:circuit:open-one",
            f"{{{prefix}}}:identities",
        ]
        assert 0 < client.pttl(f"{{{prefix}}}:circuit:closed-one") <= 5000
        assert 5000 < client.pttl(f"{{{prefix}}}:circuit:open-one") <= 10000
        with RedisStore(redis_server.url, prefix=f"{prefix}-other", timeout=SLACK) as elsewhere:
            assert Health(breaker, store=elsewhere).admit("open-one"), "another prefix: its own"
    client.close()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({}, "RedisStore"),
        ({"url": "http://localhost"}, "RedisStore.url"),
        ({"url": "redis://x", "client": "c"}, "RedisStore"),
        ({"client": "redis://x"}, "RedisStore.client"),
        ({"client": redis.Redis()}, "RedisStore.client"),
        ({"client": redis.Redis(socket_timeout=1)}, "RedisStore.client"),
        ({"url": "redis://x", "async_client": redis.Redis()}, "RedisStore.async_client"),
        ({"url": "redis://x", "prefix": "{a}"}, "RedisStore.prefix"),
        ({"url": "redis://x", "timeout": 0}, "RedisStore.timeout"),
        ({"url": "redis://x", "max_pending": -1}, "RedisStore.max_pending"),
        ({"url": "redis://x", "clock": 3}, "RedisStore.clock"),
    ],
)
def test_bad_store_settings_are_named(options: dict[str, Any], field: str) -> None:
    """A store that could block a call or cannot connect is refused at construction."""
    from fallback_core import ConfigurationError

    with pytest.raises(ConfigurationError) as caught:
        RedisStore(**options)
    assert caught.value.field == field


def test_async_calls_without_an_asyncio_client_use_the_sync_one_off_the_loop(
    redis_server: RedisServer, prefix: str
) -> None:
    """Given only a sync client, async calls still share health (on a worker thread)."""
    client = redis.Redis.from_url(
        redis_server.url, socket_timeout=SLACK, retry=Retry(NoBackoff(), 0)
    )
    with RedisStore(client=client, prefix=prefix) as store:
        chain, primary, _ = chain_on(Health(BREAKER, store=store))

        async def calls() -> list[str]:
            texts = []
            for _ in range(4):
                texts.append("".join([d.text async for d in chain.astream("request")]))
            return texts

        assert asyncio.run(calls()) == ["b"] * 4
        assert len(primary.calls) == 3


def test_each_attempt_costs_one_round_trip(
    redis_server: RedisServer, prefix: str, serve: Serve
) -> None:
    """A call on a healthy primary sends Redis one script before its attempt and one with its
    verdict; a failover adds one per further attempt; nothing else runs on the call path."""
    store = counting_store(redis_server, prefix, timeout=SLACK)
    health = Health(BREAKER, store=store)
    healthy = Chain(
        [Hop(Scripted(ok("p")), name="p"), Hop(Scripted(ok("b")), name="b")], health=health
    )
    failing, _, _ = chain_on(health)
    with store:
        assert serve(healthy, 1) == ["p"]  # the script is loaded once, on first use
        Counting.sent.clear()
        assert serve(healthy, 3) == ["p"] * 3
        assert Counting.sent == ["EVALSHA"] * 6
        Counting.sent.clear()
        assert serve(failing, 1) == ["b"]
        assert Counting.sent == ["EVALSHA"] * 3, "before the primary, before the backup, after"


def test_what_is_handed_over_after_an_outage_is_bounded_and_the_rest_counted(
    own_redis: RedisServer, prefix: str
) -> None:
    """Only the last max_pending verdicts from while Redis was lost are handed over; the ones
    dropped are counted, not lost silently."""
    store = RedisStore(own_redis.url, prefix=prefix, max_pending=2, retry_interval=0.05)
    chain, primary, _ = chain_on(Health(BREAKER, store=store))
    with store:
        own_redis.kill()
        for _ in range(4):
            assert "".join(d.text for d in chain.stream("r")) == "b"
        assert len(primary.calls) == 3
        assert store.dropped == 5, "7 verdicts (3 calls of two attempts, one of one), 2 kept"
        own_redis.start()
        until(lambda: store.available, "the store to reconnect")
        with RedisStore(own_redis.url, prefix=prefix, timeout=SLACK) as other_store:
            shared = Health(BREAKER, store=other_store).health()
        assert "p" not in shared, "the primary's failures were among the dropped"
