"""What a fallback cost, through FallbackChatModel: ChatOpenAI hops on the local fault server."""

from __future__ import annotations

import pytest

from fallback_core import HopSkipped
from fallback_core.testing import Fault, FaultServer
from langchain_fallback import ChatHop, FallbackChatModel

from .conftest import ANSWER, Call
from .servers import OpenAIHops

PRICES = {"primary": (2.5, 10.0), "backup": (0.15, 0.6)}


def test_the_trace_prices_each_attempt_and_the_call(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """The cut primary reported no usage (OpenAI's comes last), so only the backup is priced."""
    fault_server.set_fault("primary", Fault.cut_after(5))
    model = FallbackChatModel(
        models=[ChatHop(openai_hop(n), name=n) for n in ("primary", "backup")], prices=PRICES
    )

    answer = call(model, "Tell me about fallback chains.")

    assert answer.text == ANSWER
    usage = answer.message.usage_metadata
    assert usage is not None
    trace = answer.message.response_metadata["fallback"]
    cut, served = trace["attempts"]
    assert cut["cost"] is None
    expected = (usage["input_tokens"] * 0.15 + usage["output_tokens"] * 0.6) / 1e6
    assert served["cost"] == pytest.approx(expected)
    assert trace["cost"] == pytest.approx(expected)


def test_a_model_the_call_cannot_afford_is_skipped(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """The primary's max_tokens at its output price alone exceeds the ceiling: never called."""
    seen: list[object] = []
    model = FallbackChatModel(
        models=[openai_hop("primary", max_tokens=4000), openai_hop("backup", max_tokens=4000)],
        prices=PRICES,
        max_cost=0.01,  # primary: 4000 * 10 / 1e6 = 0.04 for the answer alone
        hooks=[seen.append],
    )

    answer = call(model, "Tell me about fallback chains.")

    assert answer.text == ANSWER
    assert answer.message.response_metadata["model_name"] == "backup"
    assert fault_server.attempts("primary") == []
    (skipped,) = [e for e in seen if isinstance(e, HopSkipped)]
    assert skipped.hop == "primary"
    assert skipped.reason.startswith("expected cost 0.04")
