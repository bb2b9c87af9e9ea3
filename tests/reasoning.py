"""The reasoning models both adapters are tested with: one thought, one answer, tool callers.

Every model shares the answer, so any can finish another's; reasoners think
``THOUGHT`` before each reply (a signed thinking block on the Messages API
when ``THINKING`` turns it on, ``reasoning_content`` on the OpenAI one).
"""

from __future__ import annotations

from fallback_core.testing import ModelScript

THOUGHT = "The user wants something useful, so I will explain fallback chains."
ANSWER = "Fallback chains keep a pipeline answering when one provider stumbles in the middle."
THINKING = {"type": "enabled", "budget_tokens": 1024}
CITY = {"city": "Paris"}


def reasoning_models(
    reasoners: tuple[str, ...], thinking_tooler: str, tooler: str
) -> dict[str, ModelScript]:
    """``reasoners`` think and answer; ``thinking_tooler`` thinks and calls ``weather`` once
    before answering; ``tooler`` calls it without thinking."""
    models = {name: ModelScript(ANSWER, reasoning=THOUGHT) for name in reasoners}
    models[thinking_tooler] = ModelScript(ANSWER, reasoning=THOUGHT, tool_call=("weather", CITY))
    models[tooler] = ModelScript(ANSWER, tool_call=("weather", CITY))
    return models
