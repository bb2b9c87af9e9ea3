"""FallbackChatModel over real HTTP: ChatOpenAI hops against a local fault server.

Every scripted model of the server answers the same canonical text, so a
broken answer finished by another model must come out exactly equal to it.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool

from fallback_core import ChainExhaustedError
from fallback_core.testing import Fault, FaultServer
from langchain_fallback import ChatHop, FallbackChatModel

from .conftest import ANSWER, Call
from .servers import OpenAIHops

FAST = {"backoff": lambda n: 0.0}


def chain(hop: OpenAIHops, *names: str, **options: Any) -> FallbackChatModel:
    return FallbackChatModel(models=[ChatHop(hop(n), name=n) for n in names], **{**FAST, **options})


def served_by(answer_metadata: dict[str, Any]) -> str:
    served: str = answer_metadata["fallback"]["served_by"]
    return served


def test_stream_cut_mid_answer_is_continued_to_the_exact_answer(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """A connection cut after a few tokens is continued by the backup, word for word."""
    fault_server.set_fault("primary", Fault.cut_after(5))
    model = chain(openai_hop, "primary", "backup")

    answer = call(model, "Tell me about fallback chains.")

    assert answer.text == ANSWER
    assert answer.message.response_metadata["model_name"] == "backup"
    (continued,) = fault_server.attempts("backup")
    assert continued.continuation


def test_botched_seam_is_trimmed_to_the_exact_answer(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """A backup that repeats the last words before continuing still yields the answer once."""
    fault_server.set_fault("primary", Fault.cut_after(6))
    model = chain(openai_hop, "primary", "repeater")

    assert call(model, "Tell me about fallback chains.").text == ANSWER


def test_rate_limited_primary_is_retried_then_the_backup_answers(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """A 429 is retried by the chain as its policy says, then the backup serves."""
    fault_server.set_fault("primary", Fault.rate_limit(retry_after=0))
    model = chain(openai_hop, "primary", "backup")

    answer = call(model, "hi")

    assert answer.text == ANSWER
    assert fault_server.attempt_count("primary") == 3
    assert served_by(answer.message.response_metadata) == "backup"


@pytest.mark.parametrize(
    "fault",
    [Fault.server_error(503), Fault.reset_before_headers(), Fault.no_response()],
    ids=["503", "reset", "no-response"],
)
def test_failure_before_first_token_moves_to_the_backup(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops, fault: Fault
) -> None:
    """An error, a reset or silence before any text hands the whole answer to the backup."""
    fault_server.set_fault("primary", fault)
    model = FallbackChatModel(
        models=[ChatHop(openai_hop("primary"), first_token_timeout=0.5), openai_hop("backup")],
        **FAST,
    )

    answer = call(model, "hi")

    assert answer.text == ANSWER
    (fresh,) = fault_server.attempts("backup")
    assert not fresh.continuation


def test_stalled_stream_is_continued_by_the_backup(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """A stream that goes quiet mid-answer is abandoned after the idle timeout and continued."""
    fault_server.set_fault("primary", Fault.stall_after(4))
    model = chain(openai_hop, "primary", "backup", idle_timeout=0.5)

    answer = call(model, "hi")

    assert answer.text == ANSWER
    trace = answer.message.response_metadata["fallback"]
    assert trace["attempts"][0]["category"] == "timeout"


def test_malformed_chunk_is_a_failure_the_backup_recovers_from(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """A chunk the client cannot parse ends the attempt; the backup finishes the answer."""
    fault_server.set_fault("primary", Fault.malformed_chunk(3))
    model = chain(openai_hop, "primary", "backup")

    assert call(model, "hi").text == ANSWER


def test_usage_adds_up_every_attempt_that_reported_it(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """The answer's usage is the sum of what each attempt reported, as in the trace."""
    fault_server.set_fault("primary", Fault.rate_limit(retry_after=0, times=1))
    model = chain(openai_hop, "primary", "backup")

    answer = call(model, "hi")

    usage = answer.message.usage_metadata
    assert usage is not None
    traced = answer.message.response_metadata["fallback"]["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (
        traced["input_tokens"],
        traced["output_tokens"],
    )
    assert usage["output_tokens"] == len(ANSWER.split())


def test_every_model_failing_raises_with_each_attempt(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """When both models fail the caller gets ChainExhaustedError listing the attempts."""
    fault_server.set_fault("primary", Fault.reset_before_headers())
    fault_server.set_fault("backup", Fault.reset_before_headers())
    model = chain(openai_hop, "primary", "backup")

    with pytest.raises(ChainExhaustedError) as raised:
        call(model, "hi")

    assert [a.hop for a in raised.value.attempts] == ["primary", "backup"]


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}."


def test_tool_call_turn_is_served_whole_by_the_backup(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """A tool call from the backup arrives complete, parsed into ``tool_calls``."""
    fault_server.set_fault("tooler", Fault.server_error(503))
    model = chain(openai_hop, "tooler", "tooler-backup").bind_tools([get_weather])

    answer = call(model, [HumanMessage("Weather in Paris?")])

    (tool_call,) = answer.message.tool_calls
    assert (tool_call["name"], tool_call["args"]) == ("get_weather", {"city": "Paris"})
    assert answer.message.response_metadata["finish_reason"] == "tool_calls"
    (request,) = [a for a in fault_server.attempts("tooler-backup")]
    assert request.outcome == "completed"


def test_prefill_continuation_rejected_by_the_backup_is_sent_again_as_an_instruction(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """A backup set to prefill that refuses a final assistant message still finishes the answer."""
    fault_server.set_fault("primary", Fault.cut_after(5))
    fault_server.set_fault("backup", Fault.reject_prefill())
    model = FallbackChatModel(
        models=[openai_hop("primary"), ChatHop(openai_hop("backup"), continuation="prefill")]
    )

    answer = call(model, "hi")

    assert answer.text == ANSWER
    assert [a.status for a in fault_server.attempts("backup")] == [400, 200]


def test_slow_primary_is_raced_by_the_backup_when_hedging(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """With ``hedge_after`` a primary slow to start is raced, and the faster backup serves."""
    fault_server.set_fault("primary", Fault.slow_first_token(3))
    model = chain(openai_hop, "primary", "backup", hedge_after=0.2)

    answer = call(model, "hi")

    assert answer.text == ANSWER
    attempts = answer.message.response_metadata["fallback"]["attempts"]
    assert [(a["hop"], a["outcome"]) for a in attempts] == [
        ("primary", "hedge_lost"),
        ("backup", "ok"),
    ]
