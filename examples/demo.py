"""The demo: a primary model dies mid-answer; its backup continues it, in LangChain and LlamaIndex.

Runs on the embedded default - the local OpenAI-compatible fault server on
127.0.0.1, no API key, no network. Both "models" are real HTTP endpoints: the
primary's connection drops after a dozen tokens; the backup, asked to continue,
repeats the last words it was shown and drops the space at the join, as real
models do. The terminal shows the streamed answer, marked where the backup took
over, and what happened, in plain words, timed from the call.

    make demo
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

os.environ.setdefault("LANGSMITH_TRACING", "false")

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from llama_index.core import Document, MockEmbedding, VectorStoreIndex
from llama_index.core.base.response.schema import StreamingResponse
from llama_index.llms.openai_like import OpenAILike

from fallback_core import Category, ContinuationJoined, Event, HopEnded, HopStarted
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


# What a failed attempt's category means, in plain words.
WHAT_WENT_WRONG = {
    Category.CONNECTION: "the connection dropped mid-answer",
    Category.TIMEOUT: "went silent",
    Category.TRUNCATED: "the stream ended before the answer did",
    Category.MALFORMED: "sent a garbled chunk",
    Category.RATE_LIMIT: "was rate-limited",
    Category.SERVER: "had a server error",
}
HOW_CONTINUED = {
    "instruct": "continued by instruction",
    "prefill": "continued by prefill",
}
SEAM_FIXES = {
    "inserted-space": "a missing space put back",
    "collapsed-space": "a doubled space fixed",
}


class Story:
    """A telemetry hook that tells what happened to one call, in plain words.

    Its clock starts at `start()`, called just before the call; `take_over()`
    returns (once) a mark for the place in the streamed answer where a hop
    took over another's text, for the caller to print there.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._started = 0.0
        self._failed = ""
        self._mark = ""

    def start(self) -> None:
        self.lines.clear()
        self._started = time.monotonic()

    def take_over(self) -> str:
        mark, self._mark = self._mark, ""
        return mark

    def __call__(self, event: Event) -> None:
        if isinstance(event, HopStarted):
            if event.continuation:
                how = HOW_CONTINUED.get(event.continuation, event.continuation)
                carried = event.chars_carried
                self._say(f"{event.hop} asked to go on from those {carried} characters ({how})")
                self._mark = f" [{self._failed} dropped here; {event.hop} continues:]"
            else:
                self._say(f"{event.hop} starts answering")
        elif isinstance(event, ContinuationJoined):
            fixes = []
            if event.overlap_trimmed:
                fixes.append(f"its {event.overlap_trimmed} repeated characters trimmed")
            if event.seam_fix:
                fixes.append(SEAM_FIXES.get(event.seam_fix, event.seam_fix))
            self._say(f"the join repaired: {', '.join(fixes)}" if fixes else "the join was clean")
        elif isinstance(event, HopEnded) and event.outcome == "failed":
            what = WHAT_WENT_WRONG.get(event.category, "failed") if event.category else "failed"
            self._say(f"{event.hop}: {what}, after {event.chars} characters")
            self._failed = event.hop
        elif isinstance(event, HopEnded) and event.outcome == "ok":
            self._say(f"{event.hop} finished the answer: {event.chars} more characters")

    def _say(self, line: str) -> None:
        at = (time.monotonic() - self._started) * 1000
        self.lines.append(f"{at:6.0f} ms  {line}")

    def show(self) -> None:
        print("\n  what happened (the clock starts at the call):")
        for line in self.lines:
            print("   ", line)


def show_streamed(pieces: Iterator[str], story: Story) -> str:
    """Print the answer as it streams, marking where one model took over from another."""
    text = ""
    for piece in pieces:
        if mark := story.take_over():
            print(
                f"\033[7m{mark}\033[0m" if sys.stdout.isatty() else mark,
                end="",
                flush=True,
            )
        text += piece
        print(piece, end="", flush=True)
    print()
    story.show()
    return text


def langchain_demo(server: FaultServer) -> str:
    print("\n== LangChain: prompt | FallbackChatModel | StrOutputParser, streaming ==\n")
    story = Story()

    def chat(model: str) -> ChatOpenAI:
        return ChatOpenAI(model=model, base_url=server.base_url, api_key="demo", stream_usage=True)

    llm = with_backups(chat("primary"), chat("backup"), idle_timeout=5, hooks=[story])
    chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | llm | StrOutputParser()
    story.start()
    return show_streamed(chain.stream({"question": QUESTION}), story)


def llamaindex_demo(server: FaultServer) -> str:
    print("\n== LlamaIndex: a streaming query engine over FallbackLLM ==\n")
    story = Story()

    def llm(model: str) -> OpenAILike:
        return OpenAILike(
            model=model,
            api_base=server.base_url,
            api_key="demo",
            is_chat_model=True,
            context_window=16_000,
            max_retries=0,
        )

    fallback = FallbackLLM([llm("primary"), llm("backup")], idle_timeout=5, hooks=[story])
    index = VectorStoreIndex.from_documents(
        [Document(text="Fallback chains keep pipelines answering.")],
        embed_model=MockEmbedding(embed_dim=8),
    )
    engine = index.as_query_engine(llm=fallback, streaming=True)
    story.start()
    response = engine.query(QUESTION)
    assert isinstance(response, StreamingResponse)
    return show_streamed(response.response_gen, story)


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
