"""A ChatAnthropic backup that misbehaves the way real ones do, over the Messages API.

The primary (ChatOpenAI) drops mid-answer; the Claude backup is asked to
continue by prefill - its own strategy - and answers as each of the fault
server's behaviours does (`tests.backups`). The caller gets the canonical
answer exactly, or a `ChainExhaustedError` carrying the delivered text.
"""

from __future__ import annotations

import pytest

from fallback_core.testing import FaultServer
from langchain_fallback import ChatHop, FallbackChatModel
from tests.backups import CUTS, OUTCOMES, check, prepare
from tests.backups import fault_server_models as fault_server_models  # the shared answer

from .servers import AnthropicHops, OpenAIHops
from .test_backups import run


@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
@pytest.mark.parametrize("behaviour", OUTCOMES)
@pytest.mark.parametrize("kind", ["stream", "ainvoke"])
def test_a_misbehaving_claude_backup_never_yields_other_text(
    openai_hop: OpenAIHops,
    anthropic_hop: AnthropicHops,
    fault_server: FaultServer,
    kind: str,
    behaviour: str,
    cut: int,
) -> None:
    """Whatever the Claude backup does with the prefill: the answer, or a clean error."""
    prepare(fault_server, behaviour, cut)
    llm = FallbackChatModel(
        models=[openai_hop("primary"), ChatHop(anthropic_hop("backup"), name="backup")],
        backoff=lambda n: 0.0,
    )

    text, error, received = run(kind, llm)

    check(fault_server, behaviour, "prefill", text, error, received)
