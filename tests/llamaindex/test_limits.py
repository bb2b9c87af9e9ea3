"""A silent or queued primary: default limits, the README's settings, requests timed from sent."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx
import pytest
from llama_index.core.base.llms.types import ChatResponse
from llama_index.llms.openai import OpenAI

from fallback_core import DEFAULT_FIRST_TOKEN_TIMEOUT, DEFAULT_IDLE_TIMEOUT
from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM, _target
from llamaindex_fallback._calls import chat_request
from tests.llamaindex.conftest import Drive, user
from tests.llamaindex.http import SHARED, models, openai_like
from tests.walking import ClockedWalk, check_quickstart_share


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    return models()


def quickstart(**options: object) -> FallbackLLM:
    """The README quickstart's LLMs (against no server: they are only walked, not called)."""
    primary = OpenAI(model="gpt-4o-mini", max_retries=0, api_key="test")
    backup = OpenAI(model="gpt-4.1-mini", max_retries=0, api_key="test")
    return FallbackLLM([primary, backup], **options)  # type: ignore[arg-type]


def test_with_nothing_configured_a_silent_primary_waits_the_default_then_fails_over() -> None:
    """No options at all: each LLM has the default first-token and idle limits."""
    llm = quickstart()
    limits = {(h.first_token_timeout, h.idle_timeout) for h in llm.fallback_chain.hops}
    assert limits == {(DEFAULT_FIRST_TOKEN_TIMEOUT, DEFAULT_IDLE_TIMEOUT)}
    run = ClockedWalk(llm.fallback_chain, chat_request(user(), None, {}))
    run.start()
    assert run.limit() == ("first_token", DEFAULT_FIRST_TOKEN_TIMEOUT)
    run.expire(DEFAULT_FIRST_TOKEN_TIMEOUT)
    assert run.start().hop.name == "gpt-4.1-mini"


def test_the_readme_quickstart_settings_leave_the_backup_half_the_deadline() -> None:
    """``idle_timeout=20, deadline=60``: a silent primary is given up at 30 s, the backup has 30."""
    llm = quickstart(idle_timeout=20, deadline=60)
    check_quickstart_share(llm.fallback_chain, chat_request(user(), None, {}), "gpt-4.1-mini")


def test_a_primary_that_never_sends_a_byte_is_served_by_the_backup(
    drive: Drive, fault_server: FaultServer
) -> None:
    """The quickstart's shape, scaled down: a silent primary yields its share to the backup."""
    fault_server.set_fault("primary", Fault.no_response())
    hops = [openai_like(fault_server, "primary"), openai_like(fault_server, "backup")]

    last = drive.stream_chat(FallbackLLM(hops, idle_timeout=2, deadline=1.6), user())[-1]

    assert last.message.content == SHARED
    attempts = last.additional_kwargs["fallback"]["attempts"]
    assert [(a["hop"], a["category"]) for a in attempts] == [
        ("primary", "timeout"),
        ("backup", None),
    ]
    assert "deadline_share timeout" in attempts[0]["error"]


@pytest.mark.parametrize("watched", [True, False], ids=["watched", "unwatched"])
def test_streams_queued_in_the_client_keep_their_first_token_wait(
    watched: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many concurrent streams through one pooled client: queueing does not eat the limit.

    Six streams share a one-connection pool, each holding it about 0.3 s, so
    the last is sent some 1.5 s after it started - three times its first-token
    limit. Watched (the default), every one is served by the primary; with the
    clients left unwatched, the limit counts the queueing and later streams
    fail over.
    """
    if not watched:
        monkeypatch.setattr(_target, "watch_llm_requests", lambda llm, is_async: False)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def main(server: FaultServer) -> list[str]:
        async with (
            httpx.AsyncClient(limits=limits, timeout=30) as pooled,
            httpx.AsyncClient(timeout=30) as free,
        ):
            hops = [
                openai_like(server, "primary", async_http_client=pooled),
                openai_like(server, "backup", async_http_client=free),
            ]
            llm = FallbackLLM(hops, first_token_timeout=0.5)
            await llm.achat(user())  # the SDK's first request pays a one-time set-up
            answers: list[ChatResponse] = await asyncio.gather(
                *(llm.achat(user()) for _ in range(6))
            )
        return [a.additional_kwargs["fallback"]["served_by"] for a in answers]

    with FaultServer(models(), token_delay=0.006) as server:
        served = asyncio.run(main(server))
    if watched:
        assert served == ["primary"] * 6
    else:
        assert "backup" in served, "the pool must really hold streams back beyond their limit"
