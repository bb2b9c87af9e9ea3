"""The per-hop history rules both adapters apply: signed thinking, cache_control, thinking off."""

from __future__ import annotations

import logging

import pytest

from fallback_core._history import HistoryReader, Turn, thinking_override

ON = {"type": "enabled", "budget_tokens": 1024}
THOUGHT = {"type": "thinking", "thinking": "hm", "signature": "s"}
MARKED = {"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}


def test_only_the_anthropic_model_that_wrote_thinking_gets_it_back() -> None:
    """Thinking stays for its own model on Anthropic; another model or provider loses it."""
    assert HistoryReader(True, "claude-a").block(THOUGHT, "claude-a") is THOUGHT
    assert HistoryReader(True, "claude-b").block(THOUGHT, "claude-a") is None
    assert HistoryReader(False, "claude-a").block(THOUGHT, "claude-a") is None
    assert HistoryReader(True, None).block(THOUGHT, None) is None


def test_cache_control_is_dropped_for_a_hop_that_is_not_anthropic() -> None:
    """A block keeps its other keys; Anthropic keeps the marker."""
    assert HistoryReader(False, "gpt").block(MARKED, None) == {"type": "text", "text": "Hi"}
    assert HistoryReader(True, "claude-a").block(MARKED, None) is MARKED


@pytest.mark.parametrize(
    ("turns", "off"),
    [
        ([("user", False), ("assistant", False), ("tool", False)], True),
        ([("user", False), ("assistant", True), ("tool", False)], False),
        ([("user", False), ("assistant", False), ("tool", False), ("user", False)], True),
        ([("user", False), ("assistant", False)], True),
        ([("user", False), ("assistant", True)], False),
        ([("user", False), ("assistant", False), ("user", False)], False),
        ([("tool", False)], False),
        ([], False),
    ],
)
def test_thinking_is_turned_off_when_the_final_assistant_turn_opens_without_it(
    turns: list[Turn], off: bool
) -> None:
    """A tool result answering, or a prefill of, a turn with no thinking: thinking off."""
    expected = {"type": "disabled"} if off else None
    assert thinking_override(ON, turns, "hop") == expected


def test_thinking_that_is_not_manual_extended_thinking_is_left_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No setting, a disabled one or adaptive thinking is never overridden; an override logs."""
    turns: list[Turn] = [("user", False), ("assistant", False)]
    for setting in (None, {"type": "disabled"}, {"type": "adaptive"}):
        assert thinking_override(setting, turns, "hop") is None
    with caplog.at_level(logging.DEBUG, logger="fallback_core"):
        thinking_override(ON, turns, "claude-a")
    assert "claude-a: thinking disabled for this request" in caplog.text
