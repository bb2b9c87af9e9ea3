"""Real pipelines sharing health through Redis: ChatOpenAI and OpenAILike hops over real HTTP.

Each `Health` stands for one process of a fleet; both point at one Redis and
prefix. Sync calls use the store's sync client, async calls its asyncio client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from langchain_openai import ChatOpenAI

from fallback_core import Breaker, CircuitState, Health
from fallback_core.redis import RedisStore
from fallback_core.testing import Fault, FaultServer, ModelScript
from fallback_core.testing.pytest_plugin import fault_server  # noqa: F401
from fallback_core.testing.redis_server import RedisServer
from langchain_fallback import FallbackChatModel

from ..llamaindex.http import models, openai_like
from .conftest import SLACK, Clock

BREAKER = Breaker(failure_threshold=2, cooldown=30)


@pytest.fixture
def fault_server_models() -> dict[str, ModelScript]:
    """A primary and a backup with one shared answer."""
    return models()


@pytest.fixture
def fleet(redis_server: RedisServer, prefix: str) -> Iterator[tuple[Health, Health, Clock]]:
    """Two processes' Healths on one Redis and prefix, on one hand-moved clock."""
    clock = Clock()
    stores = [
        RedisStore(redis_server.url, prefix=prefix, clock=clock, timeout=SLACK) for _ in range(2)
    ]
    yield (
        Health(BREAKER, store=stores[0], clock=clock),
        Health(BREAKER, store=stores[1], clock=clock),
        clock,
    )
    for store in stores:
        store.close()


def chat(server: FaultServer, name: str, client: httpx.AsyncClient) -> ChatOpenAI:
    return ChatOpenAI(
        model=name,
        base_url=server.base_url,
        api_key="test",  # type: ignore[arg-type]
        max_retries=0,
        http_async_client=client,
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_langchain_models_in_two_processes_share_an_outage_and_the_recovery(
    fault_server: FaultServer,  # noqa: F811
    fleet: tuple[Health, Health, Clock],
    mode: str,
) -> None:
    """One process's model opens the primary's circuit; the other's skips it without a call,
    probes it once after the cooldown, and its recovery brings both back to the primary."""
    here, there, clock = fleet
    client = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))

    def model(health: Health) -> FallbackChatModel:
        hops = [chat(fault_server, "primary", client), chat(fault_server, "backup", client)]
        return FallbackChatModel(models=hops, health=health)

    def served(health: Health) -> str:
        llm = model(health)
        message = llm.invoke("hi") if mode == "sync" else asyncio.run(llm.ainvoke("hi"))
        return str(message.response_metadata["model_name"])

    fault_server.set_fault("primary", Fault.server_error(503))
    assert served(here) == "backup"
    assert fault_server.attempt_count("primary") == 2, "the 503 and its retry open the circuit"
    assert served(there) == "backup"
    assert fault_server.attempt_count("primary") == 2, "the other process skipped it"
    fault_server.set_fault("primary", None)
    clock.now += 30
    assert served(there) == "primary", "its probe"
    assert served(here) == "primary", "closed for everyone"
    assert {c.state for c in here.health().values()} == {CircuitState.CLOSED}


def test_llamaindex_llms_share_a_rate_limit_retry_after(
    fault_server: FaultServer,  # noqa: F811
    fleet: tuple[Health, Health, Clock],
) -> None:
    """A 429 whose Retry-After is longer than the chain waits holds the deployment for every
    process: the other process's LLM goes straight to the backup until it passes."""
    from llamaindex_fallback import FallbackLLM

    here, there, clock = fleet
    fault_server.set_fault("primary", Fault.rate_limit(retry_after=120))

    def llm(health: Health) -> FallbackLLM:
        hops = [openai_like(fault_server, "primary"), openai_like(fault_server, "backup")]
        return FallbackLLM(hops, health=health)

    first = asyncio.run(llm(here).acomplete("hi"))
    assert first.additional_kwargs["fallback"]["served_by"] != "primary"
    assert fault_server.attempt_count("primary") == 1, "Retry-After past the cap: no retry"
    assert llm(there).complete("hi").text
    assert fault_server.attempt_count("primary") == 1, "held for the whole fleet"
    fault_server.set_fault("primary", None)
    clock.now += 120
    llm(there).complete("hi")
    assert fault_server.attempt_count("primary") == 2, "the hold passed: called again"
