"""Streaming through a FallbackLLM: LlamaIndex's cumulative semantics across a continuation."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from fallback_core import DEFAULT_CONTINUE_INSTRUCTION, ChainExhaustedError
from llamaindex_fallback import FallbackLLM, LLMHop
from tests.llamaindex.conftest import Drive, user
from tests.llamaindex.fakes import ANSWER, ScriptedLLM, cut, fail, quiet_end, stall


def test_stream_cut_mid_answer_is_continued_by_the_next_llm(drive: Drive) -> None:
    """A stream that dies mid-answer is finished by the next LLM, nothing lost or repeated."""
    primary, backup = ScriptedLLM(cut(5), model="primary"), ScriptedLLM(model="backup")
    llm = FallbackLLM([primary, backup])

    responses = drive.stream_chat(llm, user())

    assert "".join(r.delta or "" for r in responses) == ANSWER
    assert responses[-1].message.content == ANSWER
    assert responses[-1].additional_kwargs["fallback"]["served_by"] == "backup"


def test_every_streamed_response_holds_the_whole_answer_so_far(drive: Drive) -> None:
    """Each response's content is everything delivered so far, earlier hops' text included."""
    llm = FallbackLLM([ScriptedLLM(cut(4), model="primary"), ScriptedLLM(model="backup")])

    responses = drive.stream_chat(llm, user())

    so_far = ""
    for response in responses:
        so_far += response.delta or ""
        assert response.message.content == so_far
        assert response.message.role == MessageRole.ASSISTANT


def test_the_stream_ends_with_a_closing_response_carrying_the_trace(drive: Drive) -> None:
    """The last streamed response adds no text and reports the serving hop and every attempt."""
    llm = FallbackLLM(
        [ScriptedLLM(fail(ConnectionError("down")), model="a"), ScriptedLLM(model="b")]
    )

    last = drive.stream_chat(llm, user())[-1]

    trace = last.additional_kwargs["fallback"]
    assert last.delta == ""
    assert trace["served_by"] == "b"
    assert [(a["hop"], a["outcome"]) for a in trace["attempts"]] == [("a", "failed"), ("b", "ok")]


def test_a_continuation_resends_the_messages_then_asks_to_continue(drive: Drive) -> None:
    """The next LLM gets the caller's messages untouched, the text so far, and the instruction."""
    primary, backup = ScriptedLLM(cut(3), model="primary"), ScriptedLLM(model="backup")
    messages = [ChatMessage(role="system", content="Be brief."), *user()]

    drive.stream_chat(FallbackLLM([primary, backup]), messages)

    sent = backup.calls[0].messages
    assert [(m.role, m.content) for m in sent[:2]] == [(m.role, m.content) for m in messages]
    assert sent[2].role == MessageRole.ASSISTANT
    assert ANSWER.startswith(sent[2].content or "")
    assert sent[2].content
    assert (sent[3].role, sent[3].content) == (MessageRole.USER, DEFAULT_CONTINUE_INSTRUCTION)


def test_a_prefill_hop_gets_the_text_so_far_as_the_last_message(drive: Drive) -> None:
    """With continuation="prefill" the request ends with the assistant's text so far."""
    backup = ScriptedLLM(model="backup")
    llm = FallbackLLM([ScriptedLLM(cut(3)), LLMHop(backup, continuation="prefill")])

    responses = drive.stream_chat(llm, user())

    assert responses[-1].message.content == ANSWER
    assert backup.calls[0].messages[-1].role == MessageRole.ASSISTANT


def test_a_completion_model_continues_the_prompt_natively(drive: Drive) -> None:
    """A completion model continues a broken answer from the prompt plus the text so far."""
    backup = ScriptedLLM(model="backup", chat_model=False)
    llm = FallbackLLM([ScriptedLLM(cut(3), chat_model=False), backup])

    responses = drive.stream_complete(llm, "Tell me.")

    assert responses[-1].text == ANSWER
    assert backup.calls[0].method == "stream_complete"
    assert backup.calls[0].kwargs["formatted"] is True
    assert backup.calls[0].prompt == "Tell me." + "Fallback chains keep"


def test_a_completion_on_chat_models_is_continued_as_a_chat(drive: Drive) -> None:
    """complete() on chat models continues with the prompt as a user message."""
    backup = ScriptedLLM(model="backup")
    llm = FallbackLLM([ScriptedLLM(cut(6)), backup])

    response = drive.complete(llm, "Tell me.")

    assert response.text == ANSWER
    assert backup.calls[0].messages[0].content == "Tell me."


def test_non_streaming_calls_return_the_folded_answer(drive: Drive) -> None:
    """chat() returns the whole continued answer in one response with the trace."""
    llm = FallbackLLM([ScriptedLLM(cut(2)), ScriptedLLM(model="backup")])

    response = drive.chat(llm, user())

    assert response.message.content == ANSWER
    assert response.additional_kwargs["fallback"]["served_by"] == "backup"


def test_a_stalled_stream_is_continued_after_the_idle_timeout(drive: Drive) -> None:
    """A stream that goes quiet past idle_timeout is continued by the next LLM."""
    llm = FallbackLLM([ScriptedLLM(stall(3)), ScriptedLLM(model="backup")], idle_timeout=0.2)

    response = drive.chat(llm, user())

    assert response.message.content == ANSWER
    assert response.additional_kwargs["fallback"]["attempts"][0]["category"] == "timeout"


def test_a_quiet_end_counts_as_truncated_when_the_llm_reports_finishes(drive: Drive) -> None:
    """With require_finish, a stream ending without a finish reason is continued."""
    llm = FallbackLLM(
        [LLMHop(ScriptedLLM(quiet_end(4)), require_finish=True), ScriptedLLM(model="b")]
    )

    response = drive.chat(llm, user())

    assert response.message.content == ANSWER
    assert response.additional_kwargs["fallback"]["attempts"][0]["category"] == "truncated"


def test_an_llm_class_without_finish_reasons_is_trusted_when_its_stream_ends(drive: Drive) -> None:
    """By default an unknown LLM class's quiet end is taken as the complete answer."""
    llm = FallbackLLM([ScriptedLLM(quiet_end(4), model="a"), ScriptedLLM(model="b")])

    response = drive.chat(llm, user())

    assert response.additional_kwargs["fallback"]["served_by"] == "a"
    assert ANSWER.startswith(response.message.content or "x")


def test_when_every_llm_fails_the_call_raises_with_the_partial_text(drive: Drive) -> None:
    """ChainExhaustedError names every attempt and keeps what was already delivered."""
    llm = FallbackLLM([ScriptedLLM(cut(3)), ScriptedLLM(fail(ConnectionError("down")))])

    with pytest.raises(ChainExhaustedError) as caught:
        drive.stream_chat(llm, user())

    assert len(caught.value.attempts) == 2
    assert caught.value.partial_text
    assert ANSWER.startswith(caught.value.partial_text)


def test_each_hop_is_sent_its_own_copy_of_the_messages(drive: Drive) -> None:
    """A hop that edits the messages it is sent cannot change what the next hop gets."""
    primary, backup = ScriptedLLM(fail(ConnectionError("down"))), ScriptedLLM(model="b")
    messages = user("original")

    drive.chat(FallbackLLM([primary, backup]), messages)
    primary.calls[0].messages[0].content = "edited by the primary"

    assert backup.calls[0].messages[0].content == "original"
    assert messages[0].content == "original"


def test_call_keywords_reach_every_hop(drive: Drive) -> None:
    """Keyword arguments of a call are passed to each hop's own call."""
    primary, backup = ScriptedLLM(fail(ConnectionError("down"))), ScriptedLLM(model="b")

    drive.chat(FallbackLLM([primary, backup]), user(), temperature=0.3)

    assert primary.calls[0].kwargs["temperature"] == 0.3
    assert backup.calls[0].kwargs["temperature"] == 0.3


def test_closing_a_stream_early_stops_the_chain() -> None:
    """A consumer that stops reading closes the hop's stream and tries no other LLM."""
    primary, backup = ScriptedLLM(model="a"), ScriptedLLM(model="b")
    stream = FallbackLLM([primary, backup]).stream_chat(user())

    next(stream)
    stream.close()

    assert len(primary.calls) == 1
    assert backup.calls == []


def test_a_fallback_llm_can_be_a_hop_of_another(drive: Drive) -> None:
    """A nested FallbackLLM that runs out hands the call to the outer chain's next LLM."""
    down = ConnectionError("down")
    inner = FallbackLLM([ScriptedLLM(fail(down), model="a"), ScriptedLLM(fail(down), model="b")])
    outer = FallbackLLM([inner, ScriptedLLM(model="c")])

    response = drive.chat(outer, user())

    assert response.message.content == ANSWER
    assert response.additional_kwargs["fallback"]["served_by"] == "c"


def test_a_completion_model_continues_a_chat_from_its_own_prompt_template(drive: Drive) -> None:
    """A chat continued on a completion model is its messages in its template, then the text."""
    backup = ScriptedLLM(model="backup", chat_model=False)
    llm = FallbackLLM([ScriptedLLM(cut(3), chat_model=False), backup])

    responses = drive.stream_chat(llm, user("Hi"))

    assert responses[-1].message.content == ANSWER
    assert backup.calls[0].method == "stream_complete"
    assert backup.calls[0].prompt == "user: Hi\nassistant: " + "Fallback chains keep"
