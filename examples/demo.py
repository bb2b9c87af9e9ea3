"""The demo: a primary model dies mid-answer; its backup continues it, in LangChain and LlamaIndex.

Runs on the embedded default - the local OpenAI-compatible fault server on
127.0.0.1, no API key, no network. Both "models" are real HTTP endpoints: the
primary's connection drops after a dozen tokens; the backup, asked to continue,
repeats the last words it was shown and drops the space at the join, as real
models do. The terminal shows the streamed answer and a timeline of the hops.

    make demo
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("LANGSMITH_TRACING", "false")

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from llama_index.core import Document, MockEmbedding, VectorStoreIndex
from llama_index.core.base.response.schema import StreamingResponse
from llama_index.llms.openai_like import OpenAILike

from fallback_core import ContinuationJoined, Event, HopEnded, HopStarted
from fallback_core.testing import Fault, FaultServer, ModelScript
from langchain_fallback import with_backups
from llamaindex_fallback import FallbackLLM

ANSWER = (
    "A fallback chain tries its models in order. When one fails - an error, a rate limit, "
    "a stall, or a stream that dies halfway through a sentence - the next one takes over "
    "and continues the answer from the exact word where it broke off, so the reader gets "
    "one complete answer with nothing lost and nothing repeated."
)
QUESTION = "What does a fallback chain do?"


class Timeline:
    """A telemetry hook that keeps a readable line per hop event."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._started = time.monotonic()

    def __call__(self, event: Event) -> None:
        at = f"{(time.monotonic() - self._started) * 1000:6.0f} ms"
        if isinstance(event, HopStarted):
            carried = f", continuing {event.chars_carried} chars" if event.continuation else ""
            self.lines.append(
                f"{at}  -> {event.hop} started ({event.continuation or 'fresh'}{carried})"
            )
        elif isinstance(event, ContinuationJoined):
            self.lines.append(
                f"{at}     seam: {event.overlap_trimmed} repeated chars trimmed, "
                f"fix: {event.seam_fix or 'none'}"
            )
        elif isinstance(event, HopEnded):
            why = f" [{event.category.value}]" if event.category else ""
            self.lines.append(
                f"{at}  <- {event.hop}: {event.outcome}{why} after {event.latency * 1000:.0f} ms, "
                f"{event.chars} chars delivered"
            )

    def show(self) -> None:
        print("\n  hops:")
        for line in self.lines:
            print("   ", line)


def langchain_demo(server: FaultServer) -> str:
    print("\n== LangChain: prompt | FallbackChatModel | StrOutputParser, streaming ==\n")
    timeline = Timeline()

    def chat(model: str) -> ChatOpenAI:
        return ChatOpenAI(model=model, base_url=server.base_url, api_key="demo", stream_usage=True)

    llm = with_backups(chat("primary"), chat("backup"), idle_timeout=5, hooks=[timeline])
    chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | llm | StrOutputParser()
    text = ""
    for piece in chain.stream({"question": QUESTION}):
        text += piece
        print(piece, end="", flush=True)
    print()
    timeline.show()
    return text


def llamaindex_demo(server: FaultServer) -> str:
    print("\n== LlamaIndex: a streaming query engine over FallbackLLM ==\n")
    timeline = Timeline()

    def llm(model: str) -> OpenAILike:
        return OpenAILike(
            model=model,
            api_base=server.base_url,
            api_key="demo",
            is_chat_model=True,
            context_window=16_000,
            max_retries=0,
        )

    fallback = FallbackLLM([llm("primary"), llm("backup")], idle_timeout=5, hooks=[timeline])
    index = VectorStoreIndex.from_documents(
        [Document(text="Fallback chains keep pipelines answering.")],
        embed_model=MockEmbedding(embed_dim=8),
    )
    response = index.as_query_engine(llm=fallback, streaming=True).query(QUESTION)
    assert isinstance(response, StreamingResponse)
    text = ""
    for piece in response.response_gen:
        text += piece
        print(piece, end="", flush=True)
    print()
    timeline.show()
    return text


def main(argv: list[str] | None = None) -> int:
    scripts = {
        "primary": ModelScript(ANSWER),
        "backup": ModelScript(ANSWER, repeat_words=3, drop_seam_space=True),
    }
    with FaultServer(scripts, token_delay=0.02) as server:
        results = []
        for demo in (langchain_demo, llamaindex_demo):
            server.set_fault("primary", Fault.cut_after(14))  # the connection drops mid-answer
            results.append(demo(server))
    ok = all(text == ANSWER for text in results)
    print(f"\nBoth answers complete, nothing lost or repeated: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
