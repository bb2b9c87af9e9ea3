"""FallbackChatModel against backups that misbehave the way real ones do, over real HTTP.

Real ``ChatOpenAI`` hops on the fault server: the primary's connection drops
mid-answer and the backup answers the request to continue as each of the
fault server's behaviours does (`tests.backups`), under each continuation
strategy, through sync and async calls. The caller gets the canonical answer
exactly, or a `ChainExhaustedError` carrying the delivered text.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fallback_core import ChainExhaustedError
from fallback_core.testing import FaultServer
from langchain_fallback import ChatHop, FallbackChatModel
from tests.backups import CUTS, OUTCOMES, STRATEGIES, check, prepare
from tests.backups import fault_server_models as fault_server_models  # the shared answer

from .servers import OpenAIHops

QUESTION = "Why would a pipeline fall back?"


def model(openai_hop: OpenAIHops, strategy: str) -> FallbackChatModel:
    backup = ChatHop(openai_hop("backup"), continuation=strategy)  # type: ignore[arg-type]
    return FallbackChatModel(models=[openai_hop("primary"), backup], backoff=lambda n: 0.0)


def run(kind: str, llm: FallbackChatModel) -> tuple[str | None, BaseException | None, str]:
    """(the answer's text or None, the error, the text a stream delivered before it)."""
    pieces: list[str] = []

    async def main() -> Any:
        if kind == "ainvoke":
            return await llm.ainvoke(QUESTION)
        if kind == "abatch":
            (message,) = await llm.abatch([QUESTION])
            return message
        async for chunk in llm.astream(QUESTION):
            pieces.append(chunk.text)
        return None

    try:
        if kind == "invoke":
            return llm.invoke(QUESTION).text, None, ""
        if kind == "batch":
            (message,) = llm.batch([QUESTION])
            return message.text, None, ""
        if kind == "stream":
            for chunk in llm.stream(QUESTION):
                pieces.append(chunk.text)
            return "".join(pieces), None, "".join(pieces)
        message = asyncio.run(main())
        text = "".join(pieces) if message is None else message.text
        return text, None, "".join(pieces)
    except ChainExhaustedError as exc:
        return None, exc, "".join(pieces)


@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("behaviour", OUTCOMES)
@pytest.mark.parametrize("kind", ["stream", "ainvoke"])
def test_a_misbehaving_backup_never_yields_other_text(
    openai_hop: OpenAIHops,
    fault_server: FaultServer,
    kind: str,
    behaviour: str,
    strategy: str,
    cut: int,
) -> None:
    """Whatever the backup does with the request to continue: the answer, or a clean error."""
    prepare(fault_server, behaviour, cut)

    text, error, received = run(kind, model(openai_hop, strategy))

    check(fault_server, behaviour, strategy, text, error, received)


@pytest.mark.parametrize("behaviour", ["restart", "reword", "overlap=sentence", "empty"])
@pytest.mark.parametrize("kind", ["invoke", "ainvoke", "batch", "abatch", "stream", "astream"])
def test_every_entry_point_gets_the_same_guarantee(
    openai_hop: OpenAIHops, fault_server: FaultServer, kind: str, behaviour: str
) -> None:
    """invoke, batch and streams, sync and async, all go through the same seam."""
    prepare(fault_server, behaviour, CUTS["after-paragraph-break"])

    text, error, received = run(kind, model(openai_hop, "instruct"))

    check(fault_server, behaviour, "instruct", text, error, received)
