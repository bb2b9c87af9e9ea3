"""Shared health through FallbackChatModel: models calling one deployment share its circuit."""

from __future__ import annotations

from fallback_core import Breaker, CircuitState, Health
from fallback_core.testing import Fault, FaultServer
from langchain_fallback import FallbackChatModel

from .servers import OpenAIHops


def test_models_sharing_health_skip_a_deployment_another_saw_fail(
    fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """Once one FallbackChatModel opens the primary's circuit, another skips it without a call."""
    fault_server.set_fault("primary", Fault.server_error(503))
    health = Health(Breaker(failure_threshold=2, cooldown=60))
    first = FallbackChatModel(models=[openai_hop("primary"), openai_hop("backup")], health=health)
    assert first.invoke("hi").response_metadata["model_name"] == "backup"
    assert fault_server.attempt_count("primary") == 2  # the 503 and its one retry

    second = FallbackChatModel(models=[openai_hop("primary"), openai_hop("backup")], health=health)
    assert second.invoke("hi").response_metadata["model_name"] == "backup"
    assert fault_server.attempt_count("primary") == 2, "skipped: its circuit is open"
    (identity,) = [i for i, c in health.health().items() if c.state is CircuitState.OPEN]
    assert identity == f"openai-chat/primary@{fault_server.base_url}"
