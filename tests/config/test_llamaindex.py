"""`llamaindex_fallback.from_config`: a configured alias as a FallbackLLM, over real HTTP."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.llms.openai_like import OpenAILike

from fallback_core.config import ChainConfig, EntrySkipped, NoUsableModelError
from fallback_core.testing import Fault, FaultServer
from llamaindex_fallback import FallbackLLM, from_config

from .conftest import ANSWER, Write, served_by
from .records import only_skips


def hop_names(llm: FallbackLLM) -> list[str]:
    return [str(hop.name) for hop in llm.fallback_chain.hops]


def config_for(options: dict[str, Any], **more: Any) -> dict[str, Any]:
    """Alias ``fast`` = primary then backup, default chain = third, all on the fault server."""
    return {
        "policy": {"rules": {"server": {"retries": 0}}},
        "default": [{"model": "openai_like/third", "options": options}],
        "aliases": {
            "fast": [
                {"model": "openai_like/primary", "options": options},
                {"model": "openai-compatible/backup", "options": options},
            ]
        },
        **more,
    }


def test_configured_chain_finishes_a_broken_answer(
    fault_server: FaultServer, llamaindex_options: dict[str, Any]
) -> None:
    """The primary dies mid-answer; the configured backup continues it over HTTP."""
    fault_server.set_fault("primary", Fault.cut_after(5))
    llm = from_config(ChainConfig(config_for(llamaindex_options)), "fast")
    responses = list(llm.stream_chat([ChatMessage(role="user", content="Hello?")]))
    assert responses[-1].message.content == ANSWER
    assert served_by(fault_server) == ["primary", "backup"]


def test_alias_backups_come_before_the_default_chain(
    fault_server: FaultServer, llamaindex_options: dict[str, Any]
) -> None:
    """When the alias's own LLMs all fail, the process-wide default chain answers."""
    fault_server.set_fault("primary", Fault.server_error(500))
    fault_server.set_fault("backup", Fault.server_error(503))
    llm = from_config(ChainConfig(config_for(llamaindex_options)), "fast")
    assert hop_names(llm) == [
        "openai_like/primary",
        "openai-compatible/backup",
        "openai_like/third",
    ]
    assert llm.complete("Hello?").text == ANSWER
    assert served_by(fault_server) == ["primary", "backup", "third"]


@pytest.mark.usefixtures("without_anthropic")
def test_unusable_entries_are_skipped_with_their_reasons(
    llamaindex_options: dict[str, Any],
) -> None:
    """Each entry that cannot be built here is skipped with why; the rest make the chain."""
    skipped: list[EntrySkipped] = []
    config = ChainConfig(
        config_for(
            llamaindex_options,
            aliases={
                "fast": [
                    {"model": "anthropic/claude-3-5-haiku-latest", "options": {"api_key": "k"}},
                    "openai/gpt-4o-mini",
                    {"model": "openai/primary", "options": {"api_key": "k"}},
                    "google_vertexai/gemini",
                    {"model": "openai_like/primary", "options": llamaindex_options},
                ]
            },
        ),
        listeners=[only_skips(skipped)],
    )
    llm = from_config(config, "fast")
    assert hop_names(llm) == ["openai_like/primary", "openai_like/third"]
    reasons = [s.reason for s in skipped]
    assert reasons[0] == (
        "integration package not installed (pip install llama-index-llms-anthropic: "
        "No module named 'llama_index.llms.anthropic')"
    )
    assert reasons[1] == "no API key: set OPENAI_API_KEY or give the entry an api_key option"
    assert reasons[2].startswith("ValueError: Unknown model 'primary'")
    assert reasons[3].startswith("no LlamaIndex integration known for provider 'google_vertexai'")


@pytest.mark.usefixtures("without_anthropic")
def test_nothing_usable_fails_listing_what_was_skipped() -> None:
    """If no entry can be built, from_config raises and says what was skipped and why."""
    config = ChainConfig({"aliases": {"fast": ["anthropic/claude"]}, "default": ["openai/gpt-4o"]})
    with pytest.raises(NoUsableModelError) as caught:
        from_config(config, "fast")
    assert [s.where for s in caught.value.skipped] == ["aliases.fast.chain[0]", "default[0]"]
    assert "integration package not installed" in str(caught.value)
    assert "no API key" in str(caught.value)


def test_llms_retry_only_in_the_chain_unless_configured(
    llamaindex_options: dict[str, Any],
) -> None:
    """Built LLMs get max_retries=0 (no InnerRetriesWarning) unless the entry sets it."""
    config = ChainConfig(
        {
            "aliases": {
                "quiet": [{"model": "openai_like/primary", "options": llamaindex_options}],
                "chatty": [
                    {
                        "model": "openai_like/primary",
                        "options": {**llamaindex_options, "max_retries": 2},
                    }
                ],
            }
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = from_config(config, "quiet")
    (llm,) = quiet.llms
    assert isinstance(llm.llm, OpenAILike)
    assert llm.llm.max_retries == 0
    with pytest.warns(UserWarning, match="max_retries=2"):
        from_config(config, "chatty")


def test_llm_follows_a_reload(
    write: Write, fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a good reload the LLM walks the new chain under the new policy."""
    monkeypatch.setenv("FAULT_URL", fault_server.base_url)
    entry = (
        "{{model: {}, options: {{api_base: '${{FAULT_URL}}', api_key: t, is_chat_model: true}}}}"
    )
    path = write("chains.yaml", f"aliases:\n  fast: [{entry.format('openai_like/primary')}]\n")
    config = ChainConfig(path)
    llm = from_config(config, "fast", idle_timeout=7)
    path.write_text(
        f"policy: {{deadline: 30}}\naliases:\n  fast: [{entry.format('openai_like/backup')}]\n"
    )
    assert config.reload() is None
    assert hop_names(llm) == ["openai_like/backup"]
    assert llm.fallback_chain.policy.deadline == 30
    assert llm.fallback_chain.hops[0].idle_timeout == 7
    assert llm.complete("Hello?").text == ANSWER
    assert served_by(fault_server) == ["backup"]
    path.write_text("aliases:\n  fast: [openai/gpt-4o]\n")  # valid, but nothing usable here
    assert config.reload() is None
    assert hop_names(llm) == ["openai_like/backup"]
    assert llm.fallback_chain.policy.deadline == 30
