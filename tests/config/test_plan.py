"""Building one alias's chain in the core: own entries, then the default chain, skips reported."""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any, get_type_hints

import pytest

from fallback_core import Action, Category, ConfigurationError, Hop, Price, Prices, Rule
from fallback_core._toolkit import HopOptions
from fallback_core.config import (
    ChainConfig,
    EntrySkipped,
    ModelEntry,
    NoUsableModelError,
    Unresolvable,
    require_api_key,
)

from .records import only_skips

CONFIG: dict[str, Any] = {
    "default": ["openai/default-1", {"alias": "local"}],
    "aliases": {
        "fast": ["openai/fast-1", "openai/fast-2"],
        "local": ["openai_like/local-1"],
        "strict": {"chain": ["openai/strict-1"], "use_default": False},
    },
}


def model_of(entry: ModelEntry) -> str:
    """A resolver that builds every entry: the target is the entry's model string."""
    return entry.model


def refuse(*models: str, reason: str = "integration package not installed") -> Any:
    """A resolver that cannot build ``models``."""

    def resolve(entry: ModelEntry) -> str:
        if entry.model in models:
            raise Unresolvable(reason)
        return entry.model

    return resolve


def test_alias_entries_come_before_the_default_chain() -> None:
    """An alias's own backups are tried first, then the default chain, references expanded."""
    plan = ChainConfig(CONFIG).plan("fast", model_of)
    assert [h.target for h in plan.hops] == [
        "openai/fast-1",
        "openai/fast-2",
        "openai/default-1",
        "openai_like/local-1",
    ]
    assert [h.where for h in plan.hops] == [
        "aliases.fast.chain[0]",
        "aliases.fast.chain[1]",
        "default[0]",
        "aliases.local.chain[0]",
    ]
    assert plan.skipped == ()


def test_alias_can_keep_the_default_chain_away() -> None:
    """With use_default: false an alias is its own entries only."""
    plan = ChainConfig(CONFIG).plan("strict", model_of)
    assert [h.target for h in plan.hops] == ["openai/strict-1"]


def test_unresolvable_entry_is_skipped_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    """An entry the adapter cannot build is left out; listeners and the log hear why."""
    heard: list[EntrySkipped] = []
    config = ChainConfig(CONFIG, listeners=[only_skips(heard)])
    with caplog.at_level(logging.WARNING, logger="fallback_core.config"):
        plan = config.plan("fast", refuse("openai/fast-1"))
    assert [h.target for h in plan.hops][:1] == ["openai/fast-2"]
    skip = EntrySkipped(
        "fast", "openai/fast-1", "aliases.fast.chain[0]", "integration package not installed"
    )
    assert plan.skipped == (skip,)
    assert heard == [skip]
    assert "aliases.fast.chain[0] (openai/fast-1): integration package not installed" in caplog.text


def test_unknown_alias_is_refused_with_the_closest_names() -> None:
    """Asking for an alias that does not exist is an error suggesting the nearest aliases."""
    with pytest.raises(ConfigurationError) as caught:
        ChainConfig(CONFIG).plan("fsat", model_of)
    error = caught.value
    assert (error.field, error.suggestions) == ("alias", ("fast",))
    assert error.problem == "unknown alias 'fsat' (did you mean 'fast'?)"
    assert error.expected == "one of: fast, local, strict"


def test_nothing_usable_raises_listing_every_skip() -> None:
    """When no entry is left the build fails, and the error lists each skip with its reason."""
    config = ChainConfig({"aliases": {"solo": ["openai/a"]}, "default": ["anthropic/b"]})
    with pytest.raises(NoUsableModelError) as caught:
        config.plan("solo", refuse("openai/a", "anthropic/b", reason="no API key"))
    error = caught.value
    assert isinstance(error, ConfigurationError)
    assert error.field == "aliases.solo"
    assert [s.where for s in error.skipped] == ["aliases.solo.chain[0]", "default[0]"]
    assert str(error) == (
        "no model of alias 'solo' can be used; every entry was skipped:\n"
        "  - aliases.solo.chain[0] (openai/a): no API key\n"
        "  - default[0] (anthropic/b): no API key"
    )


def test_unknown_alias_of_an_empty_configuration_says_none_exist() -> None:
    """With no aliases at all, asking for one is refused and nothing is suggested."""
    with pytest.raises(ConfigurationError) as caught:
        ChainConfig({}).plan("nope", model_of)
    assert (caught.value.problem, caught.value.suggestions) == ("unknown alias 'nope'", ())


def test_repeated_entry_is_tried_once_and_hop_names_stay_unique() -> None:
    """The default chain repeating an alias's entry adds nothing; equal names are numbered."""
    config = ChainConfig(
        {
            "default": ["openai/a", {"model": "openai/a", "timeout": 5}],
            "aliases": {"x": ["openai/a", {"model": "openai/b", "name": "openai/a"}]},
        }
    )
    plan = config.plan("x", model_of)
    assert [(h.name, h.where) for h in plan.hops] == [
        ("openai/a", "aliases.x.chain[0]"),
        ("openai/a#2", "aliases.x.chain[1]"),
        ("openai/a#3", "default[1]"),
    ]


def test_environment_variables_fill_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """``${NAME}`` in an option is read from the environment when the chain is built."""
    monkeypatch.setenv("TEAM_KEY", "sk-team")
    monkeypatch.setenv("GATEWAY", "gw.internal")
    config = ChainConfig(
        {
            "aliases": {
                "x": [
                    {
                        "model": "openai/a",
                        "options": {
                            "api_key": "${TEAM_KEY}",
                            "base_url": "https://${GATEWAY}/v1",
                            "headers": [{"x": "${TEAM_KEY}"}],
                            "max_tokens": 5,
                        },
                    }
                ]
            }
        }
    )
    (hop,) = config.plan("x", model_of).hops
    assert hop.entry.options == {
        "api_key": "sk-team",
        "base_url": "https://gw.internal/v1",
        "headers": [{"x": "sk-team"}],
        "max_tokens": 5,
    }
    assert config.settings.aliases["x"].chain[0] != hop.entry  # the configuration keeps ${...}


def test_unset_environment_variable_skips_the_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry whose ``${NAME}`` is unset or empty is skipped, naming the variable."""
    monkeypatch.setenv("EMPTY_KEY", "")
    config = ChainConfig(
        {
            "aliases": {
                "x": [
                    {"model": "openai/a", "options": {"api_key": "${UNSET_KEY_FOR_TEST}"}},
                    {"model": "openai/b", "options": {"api_key": "${EMPTY_KEY}"}},
                    "openai/c",
                ]
            }
        }
    )
    plan = config.plan("x", model_of)
    assert [s.reason for s in plan.skipped] == [
        "environment variable UNSET_KEY_FOR_TEST is not set",
        "environment variable EMPTY_KEY is not set",
    ]
    assert [h.target for h in plan.hops] == ["openai/c"]


def test_missing_api_key_makes_an_entry_unresolvable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyed provider needs its variable or an api_key option; a local server needs neither."""
    with pytest.raises(Unresolvable, match="no API key: set OPENAI_API_KEY"):
        require_api_key(ModelEntry(model="openai/gpt-4o-mini"))
    require_api_key(ModelEntry(model="openai/gpt-4o-mini", options={"api_key": "sk"}))
    require_api_key(ModelEntry(model="openai/gpt-4o-mini", options={"openai_api_key": "sk"}))
    require_api_key(ModelEntry(model="openai_like/local"))  # a local server needs none
    monkeypatch.setenv("OPENAI_API_KEY", "sk")
    require_api_key(ModelEntry(model="openai/gpt-4o-mini"))


def test_alias_policy_overrides_the_shared_policy_field_by_field() -> None:
    """An alias's policy fields win over the shared ones; rules merge by category and field."""
    config = ChainConfig(
        {
            "policy": {
                "deadline": 60,
                "hedge_after": 2,
                "rules": {"rate_limit": {"retries": 4}, "server": "raise"},
            },
            "aliases": {
                "x": {
                    "chain": ["openai/a"],
                    "policy": {"hedge_after": None, "rules": {"rate_limit": "raise"}},
                },
                "y": ["openai/b"],
            },
        }
    )
    policy = config.plan("x", model_of).policy()
    assert (policy.deadline, policy.hedge_after) == (60, None)
    assert policy.rule(Category.RATE_LIMIT) == Rule(retries=4, then=Action.RAISE)
    assert policy.rule(Category.SERVER) == Rule(retries=1, then=Action.RAISE)
    assert policy.rule(Category.TIMEOUT) == Rule()
    assert config.plan("y", model_of).policy().hedge_after == 2


def test_policy_given_in_code_wins_over_the_configuration() -> None:
    """Policy fields passed when building override the configured ones; rules merge."""
    config = ChainConfig(
        {"policy": {"deadline": 60, "rules": {"server": "raise"}}, "aliases": {"x": ["openai/a"]}}
    )
    plan = config.plan("x", model_of)
    policy = plan.policy(
        deadline=5, rules={Category.AUTH: "raise"}, classify={KeyError: Category.AUTH}
    )
    assert policy.deadline == 5
    assert policy.rule(Category.SERVER).then is Action.RAISE
    assert policy.rule(Category.AUTH).then is Action.RAISE
    assert policy.category_of(KeyError(), Category.UNKNOWN) is Category.AUTH
    with pytest.raises(ConfigurationError):
        plan.policy(rules=["server"])


def test_failing_listener_never_breaks_the_build(caplog: pytest.LogCaptureFixture) -> None:
    """A listener that raises is logged; the chain is still built and other listeners still hear."""
    heard: list[EntrySkipped] = []

    def broken(_: EntrySkipped) -> None:
        raise RuntimeError("listener bug")

    config = ChainConfig(CONFIG, listeners=[broken, only_skips(heard)])
    with caplog.at_level(logging.ERROR, logger="fallback_core.config"):
        plan = config.plan("fast", refuse("openai/fast-1"))
    assert len(plan.hops) == 3
    assert len(heard) == 1
    assert "config listener" in caplog.text


def test_each_look_up_is_summed_up_for_listeners() -> None:
    """After the skips, listeners hear how the look-up went: entries used and skipped."""
    from fallback_core.config import AliasResolved

    heard: list[object] = []
    config = ChainConfig(CONFIG, listeners=[heard.append])
    config.plan("fast", refuse("openai/fast-1"))
    config.plan("local", refuse())
    resolved = [r for r in heard if isinstance(r, AliasResolved)]
    summary = [(r.alias, r.skipped, r.known) for r in resolved]
    assert summary == [("fast", 1, True), ("local", 0, True)]
    assert all(r.used > 0 for r in resolved)


def test_prices_and_a_cost_ceiling_come_from_the_configuration() -> None:
    """An alias's prices add to the shared table (and replace an entry of the same name)."""
    config = ChainConfig(
        {
            "policy": {
                "prices": {
                    "gpt-4o": {"input": 2.5, "output": 10},
                    "mini": {"input": 1, "output": 1},
                },
                "max_cost": 0.05,
            },
            "aliases": {
                "x": {
                    "chain": ["openai/gpt-4o"],
                    "policy": {"prices": {"mini": {"input": 0.15, "output": 0.6}}},
                }
            },
        }
    )
    policy = config.plan("x", model_of).policy()
    assert policy.max_cost == 0.05
    assert policy.prices == Prices({"gpt-4o": Price(2.5, 10), "mini": Price(0.15, 0.6)})


def test_hop_options_are_declared_alike_on_hop_adapter_hop_and_config_entry() -> None:
    """A hop option is a field of Hop, of the adapters' HopOptions and of a config entry."""
    options = {f.name for f in fields(HopOptions)}
    assert options == {f.name for f in fields(Hop)} - {"target", "model", "identity"}
    assert options == set(ModelEntry.model_fields) - {"model", "options"}


def test_hop_options_take_one_type_of_value_on_hop_adapter_hop_and_config_entry() -> None:
    """A hop option takes the same type on Hop, on HopOptions (or None: unset) and in an entry."""
    options = get_type_hints(HopOptions)
    on_hop = get_type_hints(Hop)
    in_entry = get_type_hints(ModelEntry)  # the file's constraints (Seconds, Count, ...) left out
    for name, kind in options.items():
        assert kind == on_hop[name] | None, name
        assert kind == in_entry[name], name
