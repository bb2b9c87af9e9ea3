"""The adapters' pipelines against a real model whose stream the fault server breaks.

Primary and backup are the same real model (Gemma 3 270M on llama.cpp) behind
the proxying fault server; the primary's stream is cut or stalled mid-answer
and the backup, asked to continue, writes the rest. A real model does not
reproduce a canonical answer, so the tests check the structure of what came
back: the answer begins with exactly the text the primary sent over the wire
before the break (the proxy's attempts log holds it), more text follows the
seam, nothing raised, and the chain reports the continuation and the hop that
served.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.base.response.schema import StreamingResponse
from llama_index.core.embeddings import MockEmbedding
from llama_index.llms.openai_like import OpenAILike

from fallback_core import CallEnded, Category, ChainTrace, ContinuationJoined, Event
from fallback_core.testing import AttemptRecord, Fault, FaultServer
from langchain_fallback import with_backups
from llamaindex_fallback import FallbackLLM, LLMHop

pytestmark = pytest.mark.live

QUESTION = "Explain in a few sentences why the sky is blue."
MAX_TOKENS = 48  # short answers keep a CPU-only run quick
CUT = 8  # content chunks the primary delivers before its connection drops
IDLE_TIMEOUT = 60.0  # generous: only a stall fault should ever trip it
STALL_TIMEOUT = 5.0  # the stalled primary's idle timeout


class Recorder:
    """A telemetry hook keeping the call's trace and its continuation seams."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    @property
    def trace(self) -> ChainTrace:
        """The trace of the (one) call that ended."""
        (ended,) = [e for e in self.events if isinstance(e, CallEnded)]
        return ended.trace

    @property
    def seams(self) -> list[ContinuationJoined]:
        """Every continuation joined during the call."""
        return [e for e in self.events if isinstance(e, ContinuationJoined)]


def chat_openai(proxy: FaultServer, name: str) -> ChatOpenAI:
    """A LangChain hop on the proxy: deterministic, short answers, no client retries.

    ChatOpenAI sends `max_tokens` as `max_completion_tokens`, which
    llama-cpp-python's server ignores, so the limit goes in the body as well.
    """
    return ChatOpenAI(
        model=name,
        base_url=proxy.base_url,
        api_key="live",  # type: ignore[arg-type]
        temperature=0,
        max_retries=0,
        timeout=120,
        extra_body={"max_tokens": MAX_TOKENS},
    )


def openai_like(proxy: FaultServer, name: str) -> OpenAILike:
    """A LlamaIndex hop on the proxy: deterministic, short answers, no client retries."""
    return OpenAILike(
        model=name,
        api_base=proxy.base_url,
        api_key="live",
        is_chat_model=True,
        context_window=2048,
        temperature=0,
        max_tokens=MAX_TOKENS,
        max_retries=0,
        timeout=120,
    )


def settled(proxy: FaultServer, model: str) -> list[AttemptRecord]:
    """The attempts at `model`, once none is still in progress."""
    deadline = time.monotonic() + 30
    while any(r.outcome == "in_progress" for r in proxy.attempts(model)):
        assert time.monotonic() < deadline, proxy.attempts(model)
        time.sleep(0.05)
    return proxy.attempts(model)


def attempts(trace: ChainTrace) -> list[tuple[str, str, Category | None, str | None]]:
    """Each attempt of a trace as (hop, outcome, category, continuation)."""
    return [(a.hop, a.outcome, a.category, a.continuation) for a in trace.attempts]


# How the primary's attempt ends in the proxy's log, and how the chain classifies it:
# a connection closed mid-body is a connection error, a silent one an idle timeout.
BROKEN = {"cut": Category.CONNECTION, "client_gone": Category.TIMEOUT}


def assert_continued(text: str, proxy: FaultServer, recorder: Recorder, *, broken: str) -> None:
    """`text` is the primary's wire text, then more from the backup; the chain says so."""
    (primary,) = settled(proxy, "primary")
    (backup,) = settled(proxy, "backup")
    partial = primary.text_sent
    assert (primary.outcome, primary.tokens_sent) == (broken, CUT)
    assert partial.strip(), "the primary sent no text before it broke"
    assert text.startswith(partial)
    assert text[len(partial) :].strip(), f"nothing after the seam: {text!r}"
    assert backup.outcome == "completed"
    assert backup.text_sent.strip()
    trace = recorder.trace
    assert trace.served_by == "backup"
    assert attempts(trace) == [
        ("primary", "failed", BROKEN[broken], None),
        ("backup", "ok", None, "instruct"),
    ]
    (seam,) = recorder.seams
    assert (seam.hop, seam.strategy, seam.chars_carried) == ("backup", "instruct", len(partial))


@pytest.mark.parametrize("kind", ["stream", "astream"])
def test_lcel_stream_cut_mid_answer_is_continued_by_the_backup(
    proxy: FaultServer, kind: str
) -> None:
    """prompt | FallbackChatModel | StrOutputParser streams one answer across a real cut."""
    proxy.set_fault("primary", Fault.cut_after(CUT))
    recorder = Recorder()
    llm = with_backups(
        chat_openai(proxy, "primary"),
        chat_openai(proxy, "backup"),
        idle_timeout=IDLE_TIMEOUT,
        hooks=[recorder],
    )
    chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | llm | StrOutputParser()

    async def collect() -> list[str]:
        return [piece async for piece in chain.astream({"question": QUESTION})]

    if kind == "stream":
        pieces = list(chain.stream({"question": QUESTION}))
    else:
        pieces = asyncio.run(collect())

    assert_continued("".join(pieces), proxy, recorder, broken="cut")


def test_query_engine_stream_cut_mid_answer_is_continued_by_the_backup(
    proxy: FaultServer,
) -> None:
    """A streaming LlamaIndex query engine on FallbackLLM survives a real mid-stream cut."""
    proxy.set_fault("primary", Fault.cut_after(CUT))
    recorder = Recorder()
    llm = FallbackLLM(
        [openai_like(proxy, "primary"), openai_like(proxy, "backup")],
        idle_timeout=IDLE_TIMEOUT,
        hooks=[recorder],
    )
    index = VectorStoreIndex.from_documents(
        [Document(text="Sunlight is scattered by air molecules; blue light scatters most.")],
        embed_model=MockEmbedding(embed_dim=8),
    )

    response = index.as_query_engine(llm=llm, streaming=True).query(QUESTION)
    assert isinstance(response, StreamingResponse)
    text = "".join(response.response_gen)

    assert_continued(text, proxy, recorder, broken="cut")


async def test_stalled_stream_is_abandoned_and_continued_by_the_backup(
    proxy: FaultServer,
) -> None:
    """A real stream gone silent mid-answer is closed at the idle timeout and continued.

    Async, so the silent connection is closed at once (a sync read can only be
    abandoned, and lingers until the client's own read timeout). Only the
    primary has an idle timeout, one a busy machine's token gaps never reach.
    """
    proxy.set_fault("primary", Fault.stall_after(CUT))
    recorder = Recorder()
    primary = LLMHop(openai_like(proxy, "primary"), name="primary", idle_timeout=STALL_TIMEOUT)
    llm = FallbackLLM([primary, openai_like(proxy, "backup")], hooks=[recorder])

    stream = await llm.astream_chat([ChatMessage(role="user", content=QUESTION)])
    responses = [response async for response in stream]
    text = "".join(r.delta or "" for r in responses)

    assert text == responses[-1].message.content
    assert_continued(text, proxy, recorder, broken="client_gone")


def test_rate_limited_primary_leaves_the_whole_answer_to_the_backup(proxy: FaultServer) -> None:
    """429s before forwarding: the real model is asked once, by the backup, and answers."""
    proxy.set_fault("primary", Fault.rate_limit(retry_after=0))
    recorder = Recorder()
    llm = with_backups(
        chat_openai(proxy, "primary"), chat_openai(proxy, "backup"), hooks=[recorder]
    )

    message = llm.invoke(QUESTION)

    assert message.text.strip()
    assert message.response_metadata["fallback"]["served_by"] == "backup"
    assert [r.outcome for r in proxy.attempts("primary")] == ["error_response"] * 3
    (backup,) = settled(proxy, "backup")
    assert (backup.outcome, backup.text_sent) == ("completed", message.text)
    assert attempts(recorder.trace)[-1] == ("backup", "ok", None, None)


def test_relayed_real_stream_names_the_proxy_model_and_is_logged_whole(
    proxy: FaultServer,
) -> None:
    """A healthy relayed stream: every chunk names "primary"; the proxy logs exactly its text."""
    client = openai.OpenAI(base_url=proxy.base_url, api_key="live", max_retries=0)
    kwargs: dict[str, Any] = {"temperature": 0, "max_tokens": MAX_TOKENS, "timeout": 120}
    with client:
        chunks = list(
            client.chat.completions.create(
                model="primary",
                messages=[{"role": "user", "content": QUESTION}],
                stream=True,
                **kwargs,
            )
        )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    (record,) = settled(proxy, "primary")
    assert text.strip()
    assert finish in (["stop"], ["length"])
    assert {c.model for c in chunks} == {"primary"}
    assert (record.outcome, record.text_sent) == ("completed", text)
    assert record.tokens_sent == sum(1 for c in chunks if c.choices and c.choices[0].delta.content)
