"""Usage on every path: each entry point reports what the bare model's ``invoke`` reports.

The chain always streams, and OpenAI's API reports a stream's usage only when
asked (``stream_options.include_usage``), as the fault server does. So every
hop runs on a private copy that asks, whatever its ``stream_usage`` was left at.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages.ai import UsageMetadata
from langchain_openai import ChatOpenAI

from fallback_core.testing import Fault, FaultServer
from langchain_fallback import FallbackChatModel, with_backups

from .conftest import Call
from .servers import OpenAIHops

PROMPT = "Why keep a backup model?"


def counts(usage: UsageMetadata | None) -> tuple[int, int, int] | None:
    if usage is None:
        return None
    return usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]


def unset(openai_hop: OpenAIHops, name: str) -> ChatOpenAI:
    """A ChatOpenAI for ``name`` with ``stream_usage`` left unset, as a user builds one."""
    return openai_hop(name, stream_usage=None)


def bare_usage(openai_hop: OpenAIHops, name: str) -> tuple[int, int, int] | None:
    """What the bare model's own (non-streaming) ``invoke`` reports."""
    return counts(unset(openai_hop, name).invoke(PROMPT).usage_metadata)


def test_every_call_reports_the_usage_the_bare_model_reports(
    call: Call, openai_hop: OpenAIHops
) -> None:
    """invoke, ainvoke, stream and astream report the bare ``invoke``'s token counts."""
    expected = bare_usage(openai_hop, "primary")
    assert expected is not None
    model = with_backups(unset(openai_hop, "primary"), unset(openai_hop, "backup"))

    answer = call(model, PROMPT)

    assert counts(answer.message.usage_metadata) == expected
    assert [c for c in answer.chunks if c.usage_metadata] == [answer.chunks[-1]]


@pytest.mark.parametrize("kind", ["batch", "abatch"])
def test_batches_report_each_answers_usage(kind: str, openai_hop: OpenAIHops) -> None:
    """batch and abatch give every answer the bare model's usage for its prompt."""
    expected = bare_usage(openai_hop, "primary")
    model = with_backups(unset(openai_hop, "primary"), unset(openai_hop, "backup"))

    async def abatch() -> list[Any]:
        return await model.abatch([PROMPT, PROMPT])

    answers = model.batch([PROMPT, PROMPT]) if kind == "batch" else asyncio.run(abatch())

    assert [counts(a.usage_metadata) for a in answers] == [expected, expected]


def test_after_a_failover_the_usage_is_what_the_attempts_reported(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """A cut primary reports nothing (the API sends usage last); the backup's counts remain."""
    fault_server.set_fault("primary", Fault.cut_after(4))
    model = with_backups(unset(openai_hop, "primary"), unset(openai_hop, "backup"))

    answer = call(model, PROMPT)

    trace = answer.message.response_metadata["fallback"]
    assert list(trace["usage_by_hop"]) == ["backup"]
    usage = counts(answer.message.usage_metadata)
    assert usage is not None
    assert usage == tuple(
        trace["usage"][k] for k in ("input_tokens", "output_tokens", "total_tokens")
    )
    assert usage[1] > 0


def test_the_callers_model_is_left_as_given(openai_hop: OpenAIHops) -> None:
    """The hop streams usage on a private copy; the caller's model keeps its own setting."""
    mine = unset(openai_hop, "primary")

    model = FallbackChatModel(models=[mine])

    running: Any = model.fallback_chain.hops[0].target.model
    assert running.stream_usage is True
    assert mine.stream_usage is None


def test_a_model_told_not_to_stream_usage_is_not_asked(
    streamed: Call, openai_hop: OpenAIHops
) -> None:
    """``stream_usage=False`` (an endpoint refusing ``stream_options``) is respected."""
    model = FallbackChatModel(models=[openai_hop("primary", stream_usage=False)])

    answer = streamed(model, PROMPT)

    assert answer.message.usage_metadata is None
