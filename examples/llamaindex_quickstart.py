"""LlamaIndex quickstart: a query engine whose primary model dies mid-answer.

Runs offline: both "models" are served by the local fault server (an
OpenAI-compatible endpoint on 127.0.0.1), and embeddings are mocked. With real
providers, swap the two OpenAILike clients for e.g. OpenAI(...) and
Anthropic(...) - built with max_retries=0, so the chain decides the retries.

    python examples/llamaindex_quickstart.py
"""

from __future__ import annotations

from typing import Any

from llama_index.core import Document, MockEmbedding, VectorStoreIndex
from llama_index.core.base.response.schema import StreamingResponse
from llama_index.core.instrumentation import root_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.llms.openai_like import OpenAILike

from fallback_core import HopEnded
from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackHopEvent, FallbackLLM

ANSWER = (
    "A fallback chain tries its models in order. When one fails - an error, a rate limit, "
    "a stall, or a stream that dies halfway - the next one takes over and continues the answer."
)


def model(server: FaultServer, name: str) -> OpenAILike:
    return OpenAILike(
        model=name,
        api_base=server.base_url,
        api_key="not-needed",
        is_chat_model=True,
        is_function_calling_model=True,
        context_window=16_000,
        max_retries=0,
    )


class PrintHops(BaseEventHandler):
    """Prints how each attempt ended, from the FallbackHopEvents on the root dispatcher."""

    def handle(self, event: Any, **kwargs: Any) -> None:
        if isinstance(event, FallbackHopEvent) and isinstance(event.record, HopEnded):
            r = event.record
            print(f"\n  [{r.hop}: {r.outcome} after {r.chars} chars]", end="", flush=True)


def main() -> None:
    root_dispatcher.add_event_handler(PrintHops())
    scripts = {name: ModelScript(answer=ANSWER) for name in ("primary", "backup")}
    with FaultServer(scripts, token_delay=0.03) as server:
        server.set_fault("primary", Fault.cut_after(12))  # the connection drops mid-answer
        llm = FallbackLLM(
            [model(server, "primary"), model(server, "backup")], idle_timeout=10, deadline=60
        )
        index = VectorStoreIndex.from_documents(
            [Document(text="Fallback chains keep pipelines answering.")],
            embed_model=MockEmbedding(embed_dim=8),
        )
        engine = index.as_query_engine(llm=llm, streaming=True)

        response = engine.query("What does a fallback chain do?")
        assert isinstance(response, StreamingResponse)
        tokens = []
        for token in response.response_gen:
            tokens.append(token)
            print(token, end="", flush=True)
        print(f"\n\ncomplete, nothing lost or repeated: {''.join(tokens) == ANSWER}")


if __name__ == "__main__":
    main()
