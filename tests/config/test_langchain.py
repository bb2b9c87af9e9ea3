"""`langchain_fallback.from_config`: a configured alias as a FallbackChatModel, over real HTTP."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from fallback_core import Category, ConfigurationError, Policy
from fallback_core.config import ChainConfig, EntrySkipped, NoUsableModelError
from fallback_core.testing import Fault, FaultServer
from langchain_fallback import FallbackChatModel, from_config

from .conftest import ANSWER, Write, served_by
from .records import only_skips

FILE = """
policy:
  rules: {server: {retries: 0}}
default:
  - model: openai/third
    options: {base_url: "${FAULT_URL}", api_key: test}
aliases:
  fast:
    chain:
      - model: openai/primary
        idle_timeout: 5
        options: {base_url: "${FAULT_URL}", api_key: test}
      - model: openai-compatible/backup
        options: {base_url: "${FAULT_URL}", api_key: test}
"""


@pytest.fixture
def chains(write: Write, fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The YAML file above, its endpoint read from the environment as a deployment would."""
    monkeypatch.setenv("FAULT_URL", fault_server.base_url)
    return write("chains.yaml", FILE)


def hop_names(model: FallbackChatModel) -> list[str]:
    return [str(hop.name) for hop in model.fallback_chain.hops]


def test_configured_chain_finishes_a_broken_answer(chains: Path, fault_server: FaultServer) -> None:
    """The primary dies mid-answer; the configured backup continues it over HTTP."""
    fault_server.set_fault("primary", Fault.cut_after(5))
    model = from_config(ChainConfig(chains), "fast")
    chunks = list(model.stream("What does a configured chain do?"))
    assert "".join(chunk.text for chunk in chunks) == ANSWER
    assert served_by(fault_server) == ["primary", "backup"]
    assert chunks[-1].response_metadata["model_name"] == "backup"


def test_alias_backups_come_before_the_default_chain(
    chains: Path, fault_server: FaultServer
) -> None:
    """When the alias's own models all fail, the process-wide default chain answers."""
    fault_server.set_fault("primary", Fault.server_error(500))
    fault_server.set_fault("backup", Fault.server_error(503))
    model = from_config(ChainConfig(chains), "fast")
    assert hop_names(model) == ["openai/primary", "openai-compatible/backup", "openai/third"]
    assert model.invoke("Hello?").text == ANSWER
    assert served_by(fault_server) == ["primary", "backup", "third"]


def test_unknown_alias_is_refused_naming_the_closest(chains: Path) -> None:
    """An alias the configuration lacks is a ConfigurationError suggesting the closest alias."""
    with pytest.raises(ConfigurationError) as caught:
        from_config(ChainConfig(chains), "fsat")
    assert caught.value.field == "alias"
    assert caught.value.problem == "unknown alias 'fsat' (did you mean 'fast'?)"
    assert caught.value.suggestions == ("fast",)


@pytest.mark.usefixtures("without_anthropic")
def test_unusable_entries_are_skipped_with_their_reasons(
    fault_server: FaultServer, langchain_options: dict[str, Any]
) -> None:
    """A missing integration package, a missing key or a refused provider skip the entry only."""
    skipped: list[EntrySkipped] = []
    config = ChainConfig(
        {
            "aliases": {
                "fast": [
                    "anthropic/claude-3-5-haiku-latest",
                    {"model": "openai/primary", "options": {"base_url": fault_server.base_url}},
                    {"model": "openai/x", "options": {"api_key": "k", "temperature": "hot"}},
                    {"model": "openai/backup", "options": langchain_options},
                ]
            }
        },
        listeners=[only_skips(skipped)],
    )
    model = from_config(config, "fast")
    assert hop_names(model) == ["openai/backup"]
    assert [s.where for s in skipped] == [f"aliases.fast.chain[{i}]" for i in (0, 1, 2)]
    reasons = [s.reason for s in skipped]
    assert reasons[0].startswith("integration package not installed (")
    assert "langchain-anthropic" in reasons[0]
    assert reasons[1] == "no API key: set OPENAI_API_KEY or give the entry an api_key option"
    assert reasons[2].startswith("ValidationError: ")
    assert model.invoke("Hello?").text == ANSWER


@pytest.mark.usefixtures("without_anthropic")
def test_nothing_usable_fails_listing_what_was_skipped() -> None:
    """If no entry can be built, from_config raises and says what was skipped and why."""
    config = ChainConfig(
        {"aliases": {"fast": ["anthropic/claude-3-5-haiku-latest"]}, "default": ["openai/gpt-4o"]}
    )
    with pytest.raises(NoUsableModelError) as caught:
        from_config(config, "fast")
    message = str(caught.value)
    assert (
        "aliases.fast.chain[0] (anthropic/claude-3-5-haiku-latest): integration package" in message
    )
    assert "default[0] (openai/gpt-4o): no API key: set OPENAI_API_KEY" in message


def test_hop_settings_and_policy_reach_the_model(langchain_options: dict[str, Any]) -> None:
    """Per-hop limits and the policy come from the configuration; code may override the policy."""
    config = ChainConfig(
        {
            "policy": {"deadline": 60, "rules": {"content_policy": "fallback"}},
            "aliases": {
                "fast": [
                    {
                        "model": "openai/primary",
                        "name": "main",
                        "timeout": 30,
                        "first_token_timeout": 4,
                        "idle_timeout": 6,
                        "max_attempts": 2,
                        "context_window": 8000,
                        "continuation": "prefill",
                        "require_finish": False,
                        "options": {**langchain_options, "temperature": 0},
                    }
                ]
            },
        }
    )
    hook_calls: list[object] = []
    model = from_config(config, "fast", deadline=5, hooks=[hook_calls.append], idle_timeout=9)
    (hop,) = model.fallback_chain.hops
    assert (hop.name, hop.model, hop.timeout, hop.first_token_timeout, hop.idle_timeout) == (
        "main",
        "primary",
        30,
        4,
        6,
    )
    assert (hop.max_attempts, hop.context_window, hop.continuation, hop.require_finish) == (
        2,
        8000,
        "prefill",
        False,
    )
    assert model.policy.deadline == 5
    assert model.policy.rule(Category.CONTENT_POLICY).then.value == "fallback"
    assert model.hooks == (hook_calls.append,)
    assert model.models[0].model.temperature == 0


def test_models_or_policy_given_in_code_are_refused(chains: Path) -> None:
    """The configuration owns the models and the policy; passing them in code is an error."""
    config = ChainConfig(chains)
    for key, value in (("policy", Policy()), ("models", [])):
        with pytest.raises(ConfigurationError) as caught:
            from_config(config, "fast", **{key: value})
        assert caught.value.field == key


def test_model_follows_a_reload(chains: Path, fault_server: FaultServer) -> None:
    """After a good reload the model walks the new chain; a bad file leaves it as it was."""
    config = ChainConfig(chains)
    model = from_config(config, "fast")
    frozen = from_config(config, "fast", follow=False)
    chains.write_text(
        "policy: {rules: {server: raise}}\n"
        "default: [{model: openai/third, options: {base_url: '${FAULT_URL}', api_key: test}}]\n"
        "aliases:\n"
        "  fast: [{model: openai/backup, options: {base_url: '${FAULT_URL}', api_key: test}}]\n"
    )
    assert config.reload() is None
    assert hop_names(model) == ["openai/backup", "openai/third"]
    assert model.policy.rule(Category.SERVER).then.value == "raise"
    assert hop_names(frozen) == ["openai/primary", "openai-compatible/backup", "openai/third"]
    assert model.invoke("Hello?").text == ANSWER
    assert served_by(fault_server) == ["backup"]
    chains.write_text("aliases: {fast: [")
    assert config.reload() is not None
    assert hop_names(model) == ["openai/backup", "openai/third"]


def test_reload_leaving_the_alias_unusable_keeps_the_models_chain(
    chains: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """If the new configuration gives the alias nothing usable, the model keeps its chain."""
    config = ChainConfig(chains)
    model = from_config(config, "fast")
    chains.write_text("aliases:\n  fast: [openai/gpt-4o]\n")
    with caplog.at_level(logging.WARNING):
        assert config.reload() is None
    assert hop_names(model) == ["openai/primary", "openai-compatible/backup", "openai/third"]
    assert "alias 'fast' keeps its previous chain after the reload" in caplog.text
    assert "no API key" in caplog.text
