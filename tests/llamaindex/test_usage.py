"""Usage on every path: each entry point reports what the bare LLM's ``chat`` / ``complete`` report.

The chain always streams, and OpenAI's API reports a stream's usage only when
asked (``stream_options.include_usage``), as the fault server does. So each
call to an OpenAI-family hop asks for it; the caller's LLM is not changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM, LLMHop
from tests.llamaindex.conftest import Drive, user
from tests.llamaindex.http import SHARED, models, openai_like

COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")
PROMPT = "Why keep a backup model?"


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    return models()


def counts(kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(kwargs.get(key) for key in COUNTS)


def chain(server: FaultServer) -> FallbackLLM:
    return FallbackLLM([openai_like(server, "primary"), openai_like(server, "backup")])


def test_chat_calls_report_the_usage_the_bare_llm_reports(
    drive: Drive, fault_server: FaultServer
) -> None:
    """chat and stream_chat (and their async forms) carry the bare ``chat``'s token counts."""
    bare = openai_like(fault_server, "primary").chat(user(PROMPT))
    expected = counts(bare.additional_kwargs)
    assert None not in expected
    llm = chain(fault_server)

    whole = drive.chat(llm, user(PROMPT))
    streamed = drive.stream_chat(llm, user(PROMPT))

    assert counts(whole.additional_kwargs) == expected
    assert counts(streamed[-1].additional_kwargs) == expected
    assert all(counts(r.additional_kwargs) == (None,) * 3 for r in streamed[:-1])


def test_completion_calls_report_the_usage_the_bare_llm_reports(
    drive: Drive, fault_server: FaultServer
) -> None:
    """complete and stream_complete (and their async forms) carry the bare ``complete``'s."""
    bare = openai_like(fault_server, "primary").complete(PROMPT)
    expected = counts(bare.additional_kwargs)
    assert None not in expected
    llm = chain(fault_server)

    whole = drive.complete(llm, PROMPT)
    streamed = drive.stream_complete(llm, PROMPT)

    assert counts(whole.additional_kwargs) == expected
    assert counts(streamed[-1].additional_kwargs) == expected


def test_after_a_failover_the_usage_is_what_the_attempts_reported(
    drive: Drive, fault_server: FaultServer
) -> None:
    """A cut primary reports nothing (the API sends usage last); the backup's counts remain."""
    fault_server.set_fault("primary", Fault.cut_after(4))

    last = drive.stream_chat(chain(fault_server), user(PROMPT))[-1]

    assert last.message.content == SHARED
    trace = last.additional_kwargs["fallback"]
    assert list(trace["usage_by_hop"]) == ["backup"]
    usage = trace["usage"]
    assert counts(last.additional_kwargs) == (
        usage["input_tokens"],
        usage["output_tokens"],
        usage["total_tokens"],
    )


def test_the_callers_llm_is_left_as_given(drive: Drive, fault_server: FaultServer) -> None:
    """Usage is asked for per call; the caller's LLM keeps its own keyword arguments."""
    mine = openai_like(fault_server, "primary")

    drive.chat(FallbackLLM([mine]), user(PROMPT))

    assert mine.additional_kwargs == {}


def test_a_hop_told_not_to_stream_usage_is_not_asked(
    drive: Drive, fault_server: FaultServer
) -> None:
    """``LLMHop(stream_usage=False)`` (an endpoint refusing ``stream_options``) asks for none."""
    llm = FallbackLLM([LLMHop(openai_like(fault_server, "primary"), stream_usage=False)])

    last = drive.stream_chat(llm, user(PROMPT))[-1]

    assert counts(last.additional_kwargs) == (None,) * 3
    assert last.additional_kwargs["fallback"]["usage"] is None
