"""Reasoning through FallbackLLM with real `OpenAILike` hops (vLLM / DeepSeek style servers).

The Claude half - signed thinking, foreign signatures, the reverse tool loop -
is in `tests/llamaindex_anthropic/test_reasoning.py`, which needs the
anthropic SDK LlamaIndex's `Anthropic` works with.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from llama_index.core.base.llms.types import (
    CacheControl,
    CachePoint,
    ChatMessage,
    TextBlock,
    ThinkingBlock,
)

from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM
from tests.reasoning import ANSWER, THOUGHT, reasoning_models

from .conftest import Drive, user
from .http import openai_like


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """Two reasoning models sharing one answer."""
    return reasoning_models(("primary", "backup"), "tooler", "plain-tooler")


def thinking_of(message: ChatMessage) -> list[ThinkingBlock]:
    return [b for b in message.blocks if isinstance(b, ThinkingBlock)]


def test_reasoning_content_streams_through_as_thinking(
    fault_server: FaultServer, drive: Drive
) -> None:
    """Each response brings its thinking_delta; the message opens with one unsigned block."""
    responses = drive.stream_chat(FallbackLLM([openai_like(fault_server, "primary")]), user())
    assert "".join(r.additional_kwargs.get("thinking_delta") or "" for r in responses) == THOUGHT
    message = responses[-1].message
    [block] = thinking_of(message)
    assert message.blocks[0] is block
    assert block.content == THOUGHT
    assert block.additional_information == {"model": "primary"}
    assert message.content == ANSWER


def test_two_attempts_that_reasoned_keep_two_thinking_blocks(
    fault_server: FaultServer, drive: Drive
) -> None:
    """A primary cut while thinking, before any text: the backup's thought is a block of its own."""
    fault_server.set_fault("primary", Fault.cut_after(3))
    llm = FallbackLLM([openai_like(fault_server, "primary"), openai_like(fault_server, "backup")])
    message = drive.chat(llm, user()).message
    first, second = thinking_of(message)
    assert THOUGHT.startswith(first.content or "-")
    assert first.content != THOUGHT
    assert (first.additional_information["model"], second.content) == ("primary", THOUGHT)
    assert message.content == ANSWER


def test_a_cache_point_never_reaches_an_openai_hop(fault_server: FaultServer, drive: Drive) -> None:
    """Anthropic's prompt-cache point is dropped for an OpenAI hop (whose LLM raises on it)."""
    cache = CachePoint(cache_control=CacheControl(type="ephemeral"))
    system = ChatMessage(role="system", blocks=[TextBlock(text="Be brief."), cache])
    asked = [system, *user()]
    answer = drive.chat(FallbackLLM([openai_like(fault_server, "primary")]), asked)
    assert answer.message.content == ANSWER
    assert any(isinstance(b, CachePoint) for b in asked[0].blocks)  # the caller's copy is kept
