"""LangChain quickstart: a primary model dies mid-answer and its backup finishes it.

Runs offline, against the local fault server (no API key, no network):

    LANGSMITH_TRACING=false .venv/bin/python examples/langchain_quickstart.py

The only change to an ordinary LCEL chain is the model: ``with_backups(...)``
instead of a single ``ChatOpenAI``.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from fallback_core.testing import Fault, FaultServer, ModelScript
from langchain_fallback import with_backups

ANSWER = (
    "A fallback chain tries one model after another. When the first one breaks off "
    "in the middle of a sentence, the next one picks up exactly where it stopped, "
    "so you read one complete answer."
)


class ShowHops(BaseCallbackHandler):
    """Prints the chain's hop events, which arrive as LangChain custom events."""

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        if name == "fallback.hop_ended":
            why = f" ({data['category']})" if data["category"] else ""
            print(f"\n  [{data['hop']}: {data['outcome']}{why}]", flush=True)


def main() -> None:
    scripts = {"primary": ModelScript(ANSWER), "backup": ModelScript(ANSWER)}
    with FaultServer(scripts, token_delay=0.03) as server:
        server.set_fault("primary", Fault.cut_after(12))  # the connection drops mid-answer

        def chat(model: str) -> ChatOpenAI:
            return ChatOpenAI(
                model=model, base_url=server.base_url, api_key="demo", stream_usage=True
            )

        llm = with_backups(chat("primary"), chat("backup"), idle_timeout=5)
        prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
        chain = prompt | llm | StrOutputParser()

        for text in chain.stream(
            {"question": "What is a fallback chain?"}, {"callbacks": [ShowHops()]}
        ):
            print(text, end="", flush=True)
        print()

        last = list(llm.stream("What is a fallback chain?"))[-1]
        print("served by:", last.response_metadata["model_name"])
        print("usage:    ", last.usage_metadata)
        for attempt in last.response_metadata["fallback"]["attempts"]:
            print("attempt:  ", attempt["hop"], attempt["outcome"], attempt["category"] or "")


if __name__ == "__main__":
    main()
