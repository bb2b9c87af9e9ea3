"""FallbackLLM against backups that misbehave the way real ones do, over real HTTP.

Real ``OpenAILike`` hops on the fault server: the primary's connection drops
mid-answer and the backup answers the request to continue as each of the
fault server's behaviours does (`tests.backups`), under each continuation
strategy, through sync and async calls. The caller gets the canonical answer
exactly, or a `ChainExhaustedError` carrying the delivered text.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage

from fallback_core import ChainExhaustedError
from fallback_core.testing import FaultServer
from llamaindex_fallback import FallbackLLM, LLMHop
from tests.backups import CUTS, OUTCOMES, STRATEGIES, check, prepare
from tests.backups import fault_server_models as fault_server_models  # the shared answer
from tests.llamaindex.http import openai_like

QUESTION = "Why would a pipeline fall back?"


def llm(server: FaultServer, strategy: str) -> FallbackLLM:
    backup = LLMHop(openai_like(server, "backup"), continuation=strategy)  # type: ignore[arg-type]
    return FallbackLLM([openai_like(server, "primary"), backup], backoff=lambda n: 0.0)


def run(kind: str, chain: FallbackLLM) -> tuple[str | None, BaseException | None, str]:
    """(the answer's text or None, the error, the text a stream delivered before it)."""
    messages = [ChatMessage(role="user", content=QUESTION)]
    deltas: list[str] = []

    async def main() -> str | None:
        if kind == "achat":
            return (await chain.achat(messages)).message.content
        if kind == "acomplete":
            return (await chain.acomplete(QUESTION)).text
        streams: Any = (
            await chain.astream_chat(messages)
            if kind == "astream_chat"
            else await chain.astream_complete(QUESTION)
        )
        async for response in streams:
            deltas.append(response.delta or "")
        return "".join(deltas)

    try:
        if kind == "chat":
            return chain.chat(messages).message.content, None, ""
        if kind == "complete":
            return chain.complete(QUESTION).text, None, ""
        if kind in ("stream_chat", "stream_complete"):
            stream: Any = (
                chain.stream_chat(messages)
                if kind == "stream_chat"
                else chain.stream_complete(QUESTION)
            )
            for response in stream:
                deltas.append(response.delta or "")
            return "".join(deltas), None, "".join(deltas)
        return asyncio.run(main()), None, "".join(deltas)
    except ChainExhaustedError as exc:
        return None, exc, "".join(deltas)


@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("behaviour", OUTCOMES)
@pytest.mark.parametrize("kind", ["stream_chat", "achat"])
def test_a_misbehaving_backup_never_yields_other_text(
    fault_server: FaultServer, kind: str, behaviour: str, strategy: str, cut: int
) -> None:
    """Whatever the backup does with the request to continue: the answer, or a clean error."""
    prepare(fault_server, behaviour, cut)

    text, error, received = run(kind, llm(fault_server, strategy))

    check(fault_server, behaviour, strategy, text, error, received)


@pytest.mark.parametrize("behaviour", ["restart", "reword", "overlap=sentence", "empty"])
@pytest.mark.parametrize(
    "kind",
    [
        "chat",
        "achat",
        "stream_chat",
        "astream_chat",
        "complete",
        "acomplete",
        "stream_complete",
        "astream_complete",
    ],
)
def test_every_entry_point_gets_the_same_guarantee(
    fault_server: FaultServer, kind: str, behaviour: str
) -> None:
    """chat, complete and their streams, sync and async, all go through the same seam."""
    prepare(fault_server, behaviour, CUTS["after-paragraph-break"])

    text, error, received = run(kind, llm(fault_server, "instruct"))

    check(fault_server, behaviour, "instruct", text, error, received)
