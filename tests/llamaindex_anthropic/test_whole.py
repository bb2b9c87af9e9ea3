"""Whole replies from real Anthropic hops: non-streamed calls, thinking, the SDK's guard.

The anthropic SDK refuses a non-streaming request whose ``max_tokens`` may take
over ten minutes (with its client's default timeout); such a hop streams.
"""

from __future__ import annotations

from collections.abc import Mapping

import anthropic
import pytest
from llama_index.core.base.llms.types import ChatMessage, ThinkingBlock
from llama_index.llms.anthropic import Anthropic

from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM
from tests.llamaindex.conftest import Drive
from tests.llamaindex.conftest import drive as drive
from tests.llamaindex_anthropic.test_hops import claude
from tests.reasoning import ANSWER, THINKING, THOUGHT, reasoning_models

NO_LIMITS = {"first_token_timeout": None, "idle_timeout": None, "backoff": lambda retry: 0.0}
CLAUDE, BACKUP = "claude-sonnet-4-5", "claude-haiku-4-5"


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    return reasoning_models((CLAUDE, BACKUP), "claude-opus-4-5", "tool-gpt")


def hi() -> list[ChatMessage]:
    return [ChatMessage(role="user", content="Hi")]


def test_claude_chat_without_stall_limits_is_one_non_streaming_request(
    drive: Drive, fault_server: FaultServer
) -> None:
    """chat is one unstreamed request; the answer, signed thinking, usage and model come back."""
    llm = FallbackLLM(
        [claude(fault_server, CLAUDE, max_tokens=2048, thinking_dict=THINKING)], **NO_LIMITS
    )

    response = drive.chat(llm, hi())

    (attempt,) = fault_server.attempts()
    assert not attempt.streamed
    assert response.message.content == ANSWER
    (thinking,) = [b for b in response.message.blocks if isinstance(b, ThinkingBlock)]
    assert thinking.content == THOUGHT
    assert thinking.additional_information["signature"]
    assert response.additional_kwargs["completion_tokens"] > 0
    assert response.raw["model"] == CLAUDE


def test_a_failed_claude_whole_reply_is_answered_by_the_backup(
    drive: Drive, fault_server: FaultServer
) -> None:
    """A 529 on the primary's whole reply moves on to the backup Claude."""
    fault_server.set_fault(CLAUDE, Fault.server_error(529))
    llm = FallbackLLM([claude(fault_server, CLAUDE), claude(fault_server, BACKUP)], **NO_LIMITS)

    response = drive.chat(llm, hi())

    assert response.message.content == ANSWER
    assert response.additional_kwargs["fallback"]["served_by"] == BACKUP


def test_a_claude_hop_the_sdk_would_refuse_unstreamed_streams_instead(
    drive: Drive, fault_server: FaultServer
) -> None:
    """With 64k max_tokens and the SDK's default timeout, the hop streams where chat raises."""
    big = Anthropic(
        model=CLAUDE,
        base_url=fault_server.anthropic_base_url,
        api_key="t",
        max_retries=0,
        max_tokens=64_000,
    )
    # LlamaIndex gives its client timeout=None, which the SDK does not guard; a client
    # keeping the SDK's default timeout is refused, as the SDK's own users are.
    big._client = anthropic.Anthropic(
        base_url=fault_server.anthropic_base_url, api_key="t", max_retries=0
    )
    big._aclient = anthropic.AsyncAnthropic(
        base_url=fault_server.anthropic_base_url, api_key="t", max_retries=0
    )
    with pytest.raises(ValueError, match="Streaming is required"):
        big.chat(hi())  # the bare LLM: the SDK refuses before sending

    response = drive.chat(FallbackLLM([big], **NO_LIMITS), hi())

    assert response.message.content == ANSWER
    assert [a.streamed for a in fault_server.attempts()] == [True]
