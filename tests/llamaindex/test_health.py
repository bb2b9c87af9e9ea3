"""Shared health through FallbackLLM: LLMs calling one deployment share its circuit."""

from __future__ import annotations

from fallback_core import Breaker, CircuitState, Health
from fallback_core.testing import Fault, FaultServer
from llamaindex_fallback import FallbackLLM

from .http import openai_like


def test_llms_sharing_health_skip_a_deployment_another_saw_fail(
    fault_server: FaultServer,
) -> None:
    """Once one FallbackLLM opens the primary's circuit, another skips it without a call."""
    fault_server.set_fault("primary", Fault.server_error(503))
    health = Health(Breaker(failure_threshold=2, cooldown=60))

    def fallback() -> FallbackLLM:
        hops = [openai_like(fault_server, "primary"), openai_like(fault_server, "backup")]
        return FallbackLLM(hops, health=health)

    assert fallback().complete("hi").text == fault_server.answer_for("backup")
    assert fault_server.attempt_count("primary") == 2  # the 503 and its one retry
    assert fallback().complete("hi").text == fault_server.answer_for("backup")
    assert fault_server.attempt_count("primary") == 2, "skipped: its circuit is open"
    (identity,) = [i for i, c in health.health().items() if c.state is CircuitState.OPEN]
    assert identity == f"OpenAILike/primary@{fault_server.base_url}"
