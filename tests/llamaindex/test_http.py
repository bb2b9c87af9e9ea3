"""A FallbackLLM over real HTTP: OpenAI-compatible hops against the local fault server."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import pytest
from llama_index.core.tools import FunctionTool

from fallback_core import Category, Rule
from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM, InnerRetriesWarning, LLMHop
from tests.llamaindex.conftest import Drive, user
from tests.llamaindex.http import SHARED, models, openai_like

NO_WAIT = {"backoff": lambda retry: 0.0}


MULTIPLY = ("multiply", {"a": 6, "b": 7})


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    tools = {f"tool-{name}": ModelScript(answer=SHARED, tool_call=MULTIPLY) for name in ("a", "b")}
    return {**models(), **tools}


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def chain(server: FaultServer, **kwargs: object) -> FallbackLLM:
    """primary, then backup, both real OpenAILike clients on ``server``."""
    hops = [openai_like(server, "primary"), openai_like(server, "backup")]
    return FallbackLLM(hops, **{**NO_WAIT, **kwargs})  # type: ignore[arg-type]


def test_a_stream_cut_mid_answer_is_continued_to_the_canonical_answer(
    drive: Drive, fault_server: FaultServer
) -> None:
    """The primary's connection drops after five tokens; the backup finishes the same answer."""
    fault_server.set_fault("primary", Fault.cut_after(5))

    responses = drive.stream_chat(chain(fault_server), user())

    assert "".join(r.delta or "" for r in responses) == SHARED
    assert responses[-1].message.content == SHARED
    assert responses[-1].additional_kwargs["fallback"]["served_by"] == "backup"
    (backup,) = fault_server.attempts("backup")
    assert backup.continuation


def test_a_cut_completion_is_continued_to_the_canonical_answer(
    drive: Drive, fault_server: FaultServer
) -> None:
    """stream_complete over HTTP is continued like a chat."""
    fault_server.set_fault("primary", Fault.cut_after(7))

    responses = drive.stream_complete(chain(fault_server), "Tell me about fallback chains.")

    assert responses[-1].text == SHARED


@pytest.mark.parametrize(
    "fault",
    [Fault.server_error(503), Fault.reset_before_headers()],
    ids=["503", "reset"],
)
def test_a_failure_before_the_first_token_moves_to_the_backup(
    drive: Drive, fault_server: FaultServer, fault: Fault
) -> None:
    """An error before any text means the backup answers from the start."""
    fault_server.set_fault("primary", fault)

    response = drive.chat(chain(fault_server), user())

    assert response.message.content == SHARED
    assert response.additional_kwargs["fallback"]["served_by"] == "backup"
    assert not fault_server.attempts("backup")[0].continuation


def test_a_context_length_failure_skips_to_a_larger_hop(
    drive: Drive, fault_server: FaultServer
) -> None:
    """A prompt too long for the primary goes to the next hop with a larger context window."""
    fault_server.set_fault("primary", Fault.context_length_exceeded())
    hops = [
        openai_like(fault_server, "primary", context_window=8_000),
        openai_like(fault_server, "same-size", context_window=8_000),
        openai_like(fault_server, "backup", context_window=32_000),
    ]

    response = drive.chat(FallbackLLM(hops), user())

    assert response.additional_kwargs["fallback"]["served_by"] == "backup"
    assert fault_server.attempt_count("same-size") == 0


def test_a_stalled_stream_is_continued_after_the_idle_timeout(
    drive: Drive, fault_server: FaultServer
) -> None:
    """The primary goes silent after three tokens; past idle_timeout the backup continues."""
    fault_server.set_fault("primary", Fault.stall_after(3))

    responses = drive.stream_chat(chain(fault_server, idle_timeout=0.5), user())

    assert responses[-1].message.content == SHARED
    attempts = responses[-1].additional_kwargs["fallback"]["attempts"]
    assert [(a["hop"], a["category"]) for a in attempts] == [
        ("primary", "timeout"),
        ("backup", None),
    ]


def test_a_slow_first_token_moves_to_the_backup(drive: Drive, fault_server: FaultServer) -> None:
    """No first token within first_token_timeout: the backup answers."""
    fault_server.set_fault("primary", Fault.slow_first_token(5))

    hops = [
        LLMHop(openai_like(fault_server, "primary"), first_token_timeout=0.3),
        openai_like(fault_server, "backup"),  # unlimited: a loaded machine cannot fail it
    ]
    response = drive.chat(FallbackLLM(hops, **NO_WAIT), user())  # type: ignore[arg-type]

    assert response.message.content == SHARED
    assert response.additional_kwargs["fallback"]["served_by"] == "backup"


def test_a_rate_limit_is_retried_on_the_same_hop_after_retry_after(
    drive: Drive, fault_server: FaultServer
) -> None:
    """A 429 with retry-after-ms is waited out and the primary retried."""
    fault_server.set_fault("primary", Fault.rate_limit(retry_after_ms=20, times=1))

    response = drive.chat(chain(fault_server), user())

    assert response.additional_kwargs["fallback"]["served_by"] == "primary"
    assert fault_server.attempt_count("primary") == 2


def test_a_hop_refusing_a_prefill_is_asked_again_with_an_instruction(
    drive: Drive, fault_server: FaultServer
) -> None:
    """A prefill hop that answers 400 to a final assistant message continues by instruction."""
    fault_server.set_fault("primary", Fault.cut_after(4))
    fault_server.set_fault("backup", Fault.reject_prefill())
    hops = [
        openai_like(fault_server, "primary"),
        LLMHop(openai_like(fault_server, "backup"), continuation="prefill"),
    ]

    responses = drive.stream_chat(FallbackLLM(hops, **NO_WAIT), user())  # type: ignore[arg-type]

    assert responses[-1].message.content == SHARED
    assert [a.status for a in fault_server.attempts("backup")] == [400, 200]


def test_token_counts_of_the_serving_hop_reach_the_response(
    drive: Drive, fault_server: FaultServer
) -> None:
    """With usage reporting on, the closing response carries the merged token counts."""
    usage = {"additional_kwargs": {"stream_options": {"include_usage": True}}}
    hops = [
        openai_like(fault_server, "primary", **usage),
        openai_like(fault_server, "backup", **usage),
    ]
    fault_server.set_fault("primary", Fault.cut_after(5))

    last = drive.stream_chat(FallbackLLM(hops), user())[-1]

    counts = last.additional_kwargs
    assert counts["completion_tokens"] > 0
    assert counts["total_tokens"] == counts["prompt_tokens"] + counts["completion_tokens"]
    assert set(last.additional_kwargs["fallback"]["usage_by_hop"]) == {"backup"}


def test_a_stall_inside_a_streamed_tool_call_is_caught_by_the_idle_timeout(
    drive: Drive, fault_server: FaultServer
) -> None:
    """A hop that goes quiet halfway through a tool call's arguments is left for the next."""
    fault_server.set_fault("tool-a", Fault.stall_after(2))
    hops = [openai_like(fault_server, "tool-a"), openai_like(fault_server, "tool-b")]
    llm = FallbackLLM(hops, idle_timeout=0.3)

    response = drive.chat_with_tools(llm, [FunctionTool.from_defaults(fn=multiply)], user_msg="6x7")

    (call,) = llm.get_tool_calls_from_response(response)
    assert (call.tool_name, call.tool_kwargs) == MULTIPLY
    attempts = response.additional_kwargs["fallback"]["attempts"]
    assert [(a["hop"], a["category"]) for a in attempts] == [
        ("tool-a", "timeout"),
        ("tool-b", None),
    ]


# -- inner retries: the client's own max_retries and the chain's policy -------------


def test_client_retries_run_inside_one_chain_attempt(
    drive: Drive, fault_server: FaultServer
) -> None:
    """With max_retries=2 the client sends three requests before the chain sees one failure."""
    fault_server.set_fault("primary", Fault.rate_limit(retry_after_ms=1))
    hops = [
        openai_like(fault_server, "primary", max_retries=2),
        openai_like(fault_server, "backup"),
    ]
    with pytest.warns(InnerRetriesWarning):
        llm = FallbackLLM(hops, rules={Category.RATE_LIMIT: Rule(retries=0)})

    response = drive.chat(llm, user())

    assert fault_server.attempt_count("primary") == 3
    attempts = response.additional_kwargs["fallback"]["attempts"]
    assert [(a["hop"], a["outcome"]) for a in attempts] == [("primary", "failed"), ("backup", "ok")]


def test_without_client_retries_the_chain_alone_decides(
    drive: Drive, fault_server: FaultServer
) -> None:
    """With max_retries=0 every request the server sees is one the chain made."""
    fault_server.set_fault("primary", Fault.rate_limit(retry_after_ms=1))
    llm = chain(fault_server, rules={Category.RATE_LIMIT: Rule(retries=1)})

    response = drive.chat(llm, user())

    assert fault_server.attempt_count("primary") == 2
    assert len(response.additional_kwargs["fallback"]["attempts"]) == 3


def test_client_retries_never_repeat_a_stream_that_broke_mid_answer(
    drive: Drive, fault_server: FaultServer
) -> None:
    """A mid-stream cut reaches the chain at once even when the client may retry."""
    fault_server.set_fault("primary", Fault.cut_after(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnerRetriesWarning)
        hops = [
            openai_like(fault_server, "primary", max_retries=2),
            openai_like(fault_server, "backup"),
        ]
        llm = FallbackLLM(hops, **NO_WAIT)  # type: ignore[arg-type]

    response = drive.chat(llm, user())

    assert response.message.content == SHARED
    assert fault_server.attempt_count("primary") == 1
