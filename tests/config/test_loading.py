"""Loading a configuration from a dict, YAML, TOML or JSON, and the errors that name the path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fallback_core import ConfigurationError
from fallback_core.config import AliasRef, ChainConfig, ModelEntry, RuleSpec

from .conftest import Write

DATA: dict[str, Any] = {
    "policy": {"deadline": 60, "rules": {"content_policy": "fallback"}},
    "default": [{"alias": "local"}],
    "aliases": {
        "fast": {
            "description": "quick answers",
            "policy": {"deadline": 20},
            "chain": [
                {"model": "openai/gpt-4o-mini", "first_token_timeout": 5, "options": {"t": 0}},
                {"model": "anthropic/claude-3-5-haiku-latest", "continuation": "prefill"},
            ],
        },
        "local": {"chain": [{"model": "openai_like/qwen2.5"}]},
    },
}

YAML = """
policy:
  deadline: 60
  rules: {content_policy: fallback}
default: local
aliases:
  fast:
    description: quick answers
    policy: {deadline: 20}
    chain:
      - model: openai/gpt-4o-mini
        first_token_timeout: 5
        options: {t: 0}
      - {model: anthropic/claude-3-5-haiku-latest, continuation: prefill}
  local: [openai_like/qwen2.5]
"""

TOML = """
default = "local"

[policy]
deadline = 60
rules = { content_policy = "fallback" }

[aliases.fast]
description = "quick answers"
policy = { deadline = 20 }
chain = [
  { model = "openai/gpt-4o-mini", first_token_timeout = 5, options = { t = 0 } },
  { model = "anthropic/claude-3-5-haiku-latest", continuation = "prefill" },
]

[aliases.local]
chain = ["openai_like/qwen2.5"]
"""


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("chains.yaml", YAML),
        ("chains.yml", YAML),
        ("chains.toml", TOML),
        ("c.json", json.dumps(DATA)),
    ],
)
def test_every_format_describes_the_same_chains(write: Write, name: str, text: str) -> None:
    """A YAML, TOML or JSON file (format by suffix) validates to what the same dict gives."""
    assert ChainConfig(write(name, text)).settings == ChainConfig(DATA).settings


def test_shorthands_expand_to_full_entries() -> None:
    """A bare string is an entry, a list an alias, a name the default, a word a rule."""
    settings = ChainConfig(
        {
            "default": "local",
            "policy": {"rules": {"server": "raise"}},
            "aliases": {"local": ["openai_like/qwen2.5"]},
        }
    ).settings
    assert settings.default == (AliasRef(alias="local"),)
    assert settings.aliases["local"].chain == (ModelEntry(model="openai_like/qwen2.5"),)
    entry = settings.aliases["local"].chain[0]
    assert isinstance(entry, ModelEntry)
    assert (entry.provider, entry.model_name) == ("openai_like", "qwen2.5")
    assert list(settings.policy.rules.values()) == [RuleSpec(then="raise")]


def test_provider_is_read_in_one_spelling() -> None:
    """A provider is read lower-case with - as _; the model name keeps its own slashes."""
    entry = ModelEntry(model="OpenAI-Compatible/meta/llama-3")
    assert (entry.provider, entry.model_name) == ("openai_compatible", "meta/llama-3")


def _aliases(*chain: object) -> dict[str, Any]:
    return {"aliases": {"fast": {"chain": ["openai/gpt-4o-mini", *chain]}}}


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        (
            _aliases({"model": "openai/x", "timeout": -3}),
            "aliases.fast.chain[1].timeout",
            "greater than 0",
        ),
        (
            _aliases({"model": "openai/x", "timeout": "3"}),
            "aliases.fast.chain[1].timeout",
            "a valid number",
        ),
        (
            _aliases({"model": "openai/x", "max_attempts": 0}),
            "aliases.fast.chain[1].max_attempts",
            "greater than or equal to 1",
        ),
        (
            _aliases({"model": "openai/x", "continuation": "redo"}),
            "aliases.fast.chain[1].continuation",
            "'prefill', 'instruct' or 'continue_final_message'",
        ),
        (
            _aliases({"model": "openai/x", "name": ""}),
            "aliases.fast.chain[1].name",
            "a non-empty string",
        ),
        (
            _aliases({"model": "openai/x", "options": [1]}),
            "aliases.fast.chain[1].options",
            "a valid dictionary",
        ),
        (_aliases("gpt-4o"), "aliases.fast.chain[1]", "'provider/model'"),
        (_aliases(42), "aliases.fast.chain[1]", "'provider/model', or a mapping"),
        (_aliases({"timeout": 3}), "aliases.fast.chain[1].model", "a value"),
        (_aliases({"alias": 3}), "aliases.fast.chain[1].alias", "a valid string"),
        ({"aliases": {"fast": []}}, "aliases.fast.chain", "at least 1 entry"),
        (
            {"aliases": {"fast": {"chain": ["openai/b"], "use_default": "no"}}},
            "aliases.fast.use_default",
            "a valid boolean",
        ),
        ({"policy": {"deadline": 0}}, "policy.deadline", "greater than 0"),
        (
            {"policy": {"max_retry_after": -1}},
            "policy.max_retry_after",
            "greater than or equal to 0",
        ),
        (
            {"policy": {"rules": {"rate_limits": "raise"}}},
            "policy.rules.rate_limits",
            "'rate_limit'",
        ),
        (
            {"policy": {"rules": {"server": "retry"}}},
            "policy.rules.server",
            "'fallback' or 'raise'",
        ),
        (
            {"policy": {"rules": {"server": {"retries": -1}}}},
            "policy.rules.server.retries",
            "greater than or equal to 0",
        ),
        (
            {"policy": {"prices": {"gpt-4o": {"input": -1, "output": 10}}}},
            "policy.prices.gpt-4o.input",
            "greater than or equal to 0",
        ),
        (
            {"policy": {"prices": {"gpt-4o": {"input": 2.5}}}},
            "policy.prices.gpt-4o.output",
            "a value",
        ),
        ({"policy": {"max_cost": 0}}, "policy.max_cost", "greater than 0"),
        (
            {"default": [{"model": "openai/x", "idle_timeout": 0}]},
            "default[0].idle_timeout",
            "greater than 0",
        ),
    ],
)
def test_invalid_value_is_reported_at_its_path(
    data: dict[str, Any], field: str, expected: str
) -> None:
    """A bad value raises ConfigurationError whose field is the dotted path to it."""
    with pytest.raises(ConfigurationError) as caught:
        ChainConfig(data)
    assert caught.value.field == field
    assert expected in caught.value.expected


def test_unknown_field_is_named_with_the_accepted_ones() -> None:
    """A misspelt key is refused at its own path, listing the keys that section takes."""
    with pytest.raises(ConfigurationError) as caught:
        ChainConfig(_aliases({"model": "openai/x", "timout": 3}))
    assert caught.value.field == "aliases.fast.chain[1].timout"
    assert (
        caught.value.problem == "unknown field 'timout' (did you mean 'timeout' or 'idle_timeout'?)"
    )
    assert "timeout" in caught.value.expected
    with pytest.raises(ConfigurationError) as top:
        ChainConfig({"alias": {}})
    assert (top.value.field, top.value.expected) == (
        "alias",
        "one of: aliases, default, health, policy",
    )


def test_error_in_a_file_names_the_file_and_every_problem(write: Write) -> None:
    """The first problem is the field; the message names the file and counts the rest."""
    path = write(
        "chains.yaml",
        "aliases:\n  fast:\n    - openai/gpt-4o-mini\n    - {model: openai/x, timeout: -1}\n"
        "policy: {deadline: -2, hedge_after: -3}\n",
    )
    with pytest.raises(ConfigurationError) as caught:
        ChainConfig(path)
    assert caught.value.field == "aliases.fast.chain[1].timeout"
    assert "in chains.yaml" in str(caught.value)
    assert "2 more problem(s): policy.deadline, policy.hedge_after" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("chains.yaml", "aliases:\n  fast: [openai/x\n", "not valid YAML (line 3"),
        ("chains.toml", "[aliases\n", "not valid TOML"),
        ("chains.json", "{", "not valid JSON"),
    ],
)
def test_unparseable_file_is_a_configuration_error(
    write: Write, name: str, text: str, where: str
) -> None:
    """A file that does not parse raises ConfigurationError naming the file and what is wrong."""
    path = write(name, text)
    with pytest.raises(ConfigurationError) as caught:
        ChainConfig(path)
    assert caught.value.field == str(path)
    assert where in caught.value.problem


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [("chains.ini", "[x]", "unknown file type '.ini'"), ("chains.yaml", "- a\n- b\n", "got list")],
)
def test_file_that_is_not_a_configuration_is_refused(
    write: Write, name: str, text: str, problem: str
) -> None:
    """A file of an unknown type, or one that is not a mapping, is refused."""
    with pytest.raises(ConfigurationError) as caught:
        ChainConfig(write(name, text))
    assert caught.value.problem == problem


def test_missing_file_and_wrong_source_are_refused(write: Write) -> None:
    """A path that cannot be read, or a source that is neither a mapping nor a path, is refused."""
    missing = write("x.yaml", "").with_name("absent.yaml")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        ChainConfig(missing)
    with pytest.raises(ConfigurationError) as caught:
        ChainConfig(42)  # type: ignore[arg-type]
    assert caught.value.field == "source"


def test_reference_to_an_unknown_alias_is_refused() -> None:
    """An alias reference must name an alias of the same configuration; the closest is named."""
    with pytest.raises(ConfigurationError) as caught:
        ChainConfig({"default": "locl", "aliases": {"local": ["openai_like/qwen"]}})
    assert caught.value.field == "default[0].alias"
    assert caught.value.problem == "unknown alias 'locl' (did you mean 'local'?)"
    assert caught.value.expected == "one of: local"


def test_unknown_provider_is_refused_at_load_naming_the_closest() -> None:
    """A misspelt provider is an error when the file is loaded, not a skip at call time."""
    with pytest.raises(ConfigurationError) as caught:
        ChainConfig(_aliases("opnai/gpt-4o-mini"))
    error = caught.value
    assert error.field == "aliases.fast.chain[1].model"
    assert error.problem.startswith("unknown provider 'opnai' (did you mean 'openai'")
    assert "openai_like" in error.expected
    assert error.suggestions[0] == "openai"


def test_aliases_referring_to_each_other_in_a_loop_are_refused() -> None:
    """Aliases whose references lead back to themselves are refused, showing the loop."""
    with pytest.raises(ConfigurationError) as caught:
        ChainConfig(
            {
                "aliases": {
                    "a": ["openai/x", {"alias": "b"}],
                    "b": [{"alias": "c"}],
                    "c": [{"alias": "a"}],
                }
            }
        )
    assert caught.value.field == "aliases.c.chain[0].alias"
    assert "a -> b -> c -> a" in caught.value.problem
