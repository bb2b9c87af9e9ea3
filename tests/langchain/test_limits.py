"""A silent or queued primary: default limits, the README's settings, requests timed from sent."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from langchain_openai import ChatOpenAI

from fallback_core import DEFAULT_FIRST_TOKEN_TIMEOUT, DEFAULT_IDLE_TIMEOUT
from fallback_core.testing import Fault, FaultServer, ModelScript
from langchain_fallback import FallbackChatModel, with_backups
from tests.walking import ClockedWalk, check_quickstart_share

from .conftest import ANSWER, Call
from .servers import OpenAIHops

MODELS = ("primary", "backup")


def quickstart(**options: Any) -> FallbackChatModel:
    """The README quickstart's models (against no server: they are only walked, not called)."""
    primary = ChatOpenAI(model="gpt-4o-mini", api_key="test", base_url="http://127.0.0.1:9/v1")
    backup = ChatOpenAI(model="gpt-4.1-mini", api_key="test", base_url="http://127.0.0.1:9/v1")
    return with_backups(primary, backup, **options)


REQUEST = SimpleNamespace(messages=())  # what the hops read to estimate a prompt's size


def test_with_nothing_configured_a_silent_primary_waits_the_default_then_fails_over() -> None:
    """No options at all: each model has the default first-token and idle limits."""
    model = quickstart()
    limits = {(h.first_token_timeout, h.idle_timeout) for h in model.fallback_chain.hops}
    assert limits == {(DEFAULT_FIRST_TOKEN_TIMEOUT, DEFAULT_IDLE_TIMEOUT)}
    run = ClockedWalk(model.fallback_chain, REQUEST)
    run.start()
    assert run.limit() == ("first_token", DEFAULT_FIRST_TOKEN_TIMEOUT)
    run.expire(DEFAULT_FIRST_TOKEN_TIMEOUT)
    assert run.start().hop.name == "gpt-4.1-mini"


def test_the_readme_quickstart_settings_leave_the_backup_half_the_deadline() -> None:
    """``idle_timeout=20, deadline=60``: a silent primary is given up at 30 s, the backup has 30."""
    check_quickstart_share(
        quickstart(idle_timeout=20, deadline=60).fallback_chain, REQUEST, "gpt-4.1-mini"
    )


def test_a_primary_that_never_sends_a_byte_is_served_by_the_backup(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """The quickstart's shape, scaled down: a silent primary yields its share to the backup."""
    fault_server.set_fault("primary", Fault.no_response())
    model = with_backups(openai_hop("primary"), openai_hop("backup"), idle_timeout=2, deadline=1.6)

    answer = call(model, "Why is the sky blue?")

    assert answer.text == ANSWER
    attempts = answer.message.response_metadata["fallback"]["attempts"]
    assert [(a["hop"], a["category"]) for a in attempts] == [
        ("primary", "timeout"),
        ("backup", None),
    ]
    assert "deadline_share timeout" in attempts[0]["error"]


def _unwatched(client: httpx.AsyncClient) -> None:
    hooks = client.event_hooks
    mine = [h for h in hooks["request"] if h.__module__ != "fallback_core._sent"]
    client.event_hooks = {**hooks, "request": mine}


@pytest.mark.parametrize("watched", [True, False], ids=["watched", "unwatched"])
def test_streams_queued_in_the_client_keep_their_first_token_wait(watched: bool) -> None:
    """Many concurrent astreams through one pooled client: queueing does not eat the limit.

    Six streams share a one-connection pool, each holding it about 0.3 s, so
    the last is sent some 1.5 s after it started - three times its first-token
    limit. Watched (the default), every one is served by the
    primary; with the hook removed, the limit counts the queueing and later
    streams fail over to the backup.
    """

    async def main(server: FaultServer) -> list[str | None]:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with (
            httpx.AsyncClient(limits=limits, timeout=30) as pooled,
            httpx.AsyncClient(timeout=30) as free,
        ):
            hops = [
                ChatOpenAI(
                    model=name,
                    base_url=server.base_url,
                    api_key="test",  # type: ignore[arg-type]
                    max_retries=0,
                    http_async_client=client,
                )
                for name, client in (("primary", pooled), ("backup", free))
            ]
            model = FallbackChatModel(models=hops, first_token_timeout=0.5)
            await model.ainvoke("warm up")  # the SDK's first request pays a one-time set-up
            if not watched:
                _unwatched(pooled)
            answers = await asyncio.gather(*(model.ainvoke("hi") for _ in range(6)))
        return [a.response_metadata["fallback"]["served_by"] for a in answers]

    with FaultServer({name: ModelScript(ANSWER) for name in MODELS}, token_delay=0.015) as server:
        served = asyncio.run(main(server))
    if watched:
        assert served == ["primary"] * 6
    else:
        assert "backup" in served, "the pool must really hold streams back beyond their limit"
