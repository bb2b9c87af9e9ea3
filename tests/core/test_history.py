"""The per-hop history rules both adapters apply: signed thinking, cache_control, thinking off."""

from __future__ import annotations

import logging

import pytest

from fallback_core import ConfigurationError
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


SEARCHED = {
    "type": "web_search_tool_result",
    "tool_use_id": "srvtoolu_1",
    "content": [
        {
            "type": "web_search_result",
            "title": "T",
            "url": "https://e.com",
            "encrypted_content": "X",
        }
    ],
}


@pytest.mark.parametrize(
    ("block", "text"),
    [
        (SEARCHED, "[web_search_tool_result]\nT\nhttps://e.com"),
        (
            {
                "type": "code_execution_tool_result",
                "content": {"type": "code_execution_result", "stdout": "4", "stderr": ""},
            },
            "[code_execution_tool_result]\n4",
        ),
        (
            {
                "type": "web_fetch_tool_result",
                "content": {
                    "type": "web_fetch_result",
                    "url": "https://e.com",
                    "content": {"type": "document", "source": {"type": "text", "data": "Page"}},
                },
            },
            "[web_fetch_tool_result]\nhttps://e.com\nPage",
        ),
        (
            {"type": "mcp_tool_result", "content": [{"type": "text", "text": "ok"}]},
            "[mcp_tool_result]\nok",
        ),
        (
            {
                "type": "search_result",
                "title": "T",
                "source": "s",
                "content": [{"type": "text", "text": "x"}],
            },
            "T\ns\nx",
        ),
        (
            {
                "type": "document",
                "title": "T",
                "source": {"type": "content", "content": [{"type": "text", "text": "x"}]},
            },
            "T\nx",
        ),
    ],
)
def test_a_server_tool_result_reaches_another_provider_as_its_readable_text(
    block: dict[str, object], text: str
) -> None:
    """Titles, URLs, output and text are kept, encrypted parts never; Anthropic keeps the block."""
    assert HistoryReader(False, "gpt").block(block, "claude-a") == {"type": "text", "text": text}
    assert HistoryReader(True, "claude-a").block(block, "claude-a") is block


def test_a_server_tool_call_and_citations_are_dropped_for_another_provider() -> None:
    """The call the provider ran itself goes; a cited text block keeps its text."""
    call = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
    cited = {"type": "text", "text": "Hi", "citations": [{"type": "char_location"}]}
    assert HistoryReader(False, "gpt").block(call, "claude-a") is None
    assert HistoryReader(False, "gpt").block(cited, "claude-a") == {"type": "text", "text": "Hi"}


@pytest.mark.parametrize(
    "block",
    [
        {"type": "document", "source": {"type": "url", "url": "https://e.com/a.pdf"}},
        {"type": "document", "source": {"type": "file", "file_id": "file_1"}},
        {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
        {"type": "container_upload", "file_id": "file_1"},
    ],
)
def test_user_content_no_other_provider_can_read_is_refused_naming_the_block(
    block: dict[str, object],
) -> None:
    """Never dropped silently: a ConfigurationError whose field names the block's type."""
    with pytest.raises(ConfigurationError) as raised:
        HistoryReader(False, "gpt").block(block, None)
    assert raised.value.field == f"content block {block['type']!r}"
