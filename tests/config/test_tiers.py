"""Tiers in configuration: one place held by weighted deployments, loaded, planned and built."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from fallback_core import ConfigurationError, Tier
from fallback_core.config import ChainConfig, ModelEntry, TierSpec, Unresolvable
from fallback_core.testing import Fault, FaultServer, ModelScript
from langchain_fallback import from_config as langchain_model
from llamaindex_fallback import from_config as llamaindex_llm

from .conftest import ANSWER, Write

TIERED: dict[str, Any] = {
    "aliases": {
        "spread": [
            {
                "tier": [
                    {"model": "openai/east", "weight": 3},
                    {"model": "openai/west", "weight": 1},
                ],
                "name": "gpt-pool",
            },
            "openai/backup",
        ],
    },
}


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    return {name: ModelScript(ANSWER) for name in ("east", "west", "backup")}


def model_of(entry: ModelEntry) -> str:
    return entry.model


def arranged(config: ChainConfig, resolve: Any = model_of) -> list[Any]:
    """The alias's places, a tier as ``(name, [(model, weight), ...])``."""
    return config.plan("spread", resolve).arrange(
        lambda hop: (hop.target, hop.hop_options()["weight"]),
        lambda members, name: (name, members),
    )


def test_a_tier_is_loaded_as_one_place_with_weighted_entries() -> None:
    """A ``tier`` entry holds its deployments, each with its weight."""
    (tier, backup) = ChainConfig(TIERED).settings.aliases["spread"].chain
    assert isinstance(tier, TierSpec)
    assert [(e.model, e.weight) for e in tier.tier] == [("openai/east", 3), ("openai/west", 1)]
    assert isinstance(backup, ModelEntry)


def test_a_planned_tier_keeps_its_members_together_in_order() -> None:
    """The plan lays the chain out as places: the tier's members together, then the backup."""
    assert arranged(ChainConfig(TIERED)) == [
        ("gpt-pool", [("openai/east", 3), ("openai/west", 1)]),
        ("openai/backup", None),
    ]
    where = [h.where for h in ChainConfig(TIERED).plan("spread", model_of).hops]
    assert where == [
        "aliases.spread.chain[0].tier[0]",
        "aliases.spread.chain[0].tier[1]",
        "aliases.spread.chain[1]",
    ]


def test_a_tier_member_that_cannot_be_built_leaves_the_others_and_a_tier_of_none_no_place() -> None:
    """Skipped members leave the rest of their tier; a tier with none left is no place at all."""

    def refuse(*models: str) -> Any:
        def resolve(entry: ModelEntry) -> str:
            if entry.model in models:
                raise Unresolvable("integration package not installed")
            return entry.model

        return resolve

    config = ChainConfig(TIERED)
    assert arranged(config, refuse("openai/west")) == [
        ("gpt-pool", [("openai/east", 3)]),
        ("openai/backup", None),
    ]
    assert arranged(config, refuse("openai/east", "openai/west")) == [("openai/backup", None)]


@pytest.mark.parametrize(
    ("tier", "path", "problem"),
    [
        ({"tier": []}, "aliases.spread.chain[0].tier", "empty"),
        ({"tier": ["openai/a"], "weights": 1}, "aliases.spread.chain[0].weights", "unknown"),
        (
            {"tier": [{"model": "openai/a", "weight": -1}]},
            "aliases.spread.chain[0].tier[0].weight",
            "-1",
        ),
        ({"tier": ["nosuch/a"]}, "aliases.spread.chain[0].tier[0].model", "nosuch"),
    ],
)
def test_a_bad_tier_is_refused_at_load_naming_its_path(
    tier: dict[str, Any], path: str, problem: str
) -> None:
    """Empty, an unknown key, a negative weight, an unknown provider: the path says where."""
    with pytest.raises(ConfigurationError) as raised:
        ChainConfig({"aliases": {"spread": [tier]}})

    assert raised.value.field == path
    assert problem in f"{raised.value.problem} {raised.value}"


FILE = """
aliases:
  spread:
    chain:
      - tier:
          - {model: openai/east, weight: 1, options: {base_url: "${FAULT_URL}", api_key: test}}
          - {model: openai/west, weight: 0, options: {base_url: "${FAULT_URL}", api_key: test}}
      - model: openai/backup
        options: {base_url: "${FAULT_URL}", api_key: test}
"""


@pytest.fixture
def tiered(write: Write, fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FAULT_URL", fault_server.base_url)
    fault_server.set_fault("east", Fault.server_error(503))
    return write("chains.yaml", FILE)


def test_langchain_from_config_builds_the_tier_and_west_covers_for_east(
    tiered: Path, fault_server: FaultServer
) -> None:
    """The configured tier is a Tier of ChatOpenAI hops; east fails, west answers."""
    model = langchain_model(ChainConfig(tiered), "spread", backoff=lambda retry: 0.0)

    chain = model.fallback_chain
    assert chain.groups == ((0, 1), (2,))
    assert [h.weight for h in chain.hops] == [1, 0, 1.0]
    assert isinstance(model.models[0], Tier)
    assert model.invoke("Why tiers?").text == ANSWER
    assert [len(fault_server.attempts(n)) for n in ("east", "west", "backup")] == [2, 1, 0]


def test_llamaindex_from_config_builds_the_tier_and_west_covers_for_east(
    fault_server: FaultServer, llamaindex_options: dict[str, Any]
) -> None:
    """The configured tier is a Tier of OpenAILike hops; east fails, west answers."""
    fault_server.set_fault("east", Fault.server_error(503))
    entries = [
        {"model": f"openai_like/{name}", "weight": weight, "options": llamaindex_options}
        for name, weight in (("east", 1), ("west", 0))
    ]
    backup = {"model": "openai_like/backup", "options": llamaindex_options}
    config = ChainConfig({"aliases": {"spread": [{"tier": entries}, backup]}})

    llm = llamaindex_llm(config, "spread", backoff=lambda retry: 0.0)

    assert llm.fallback_chain.groups == ((0, 1), (2,))
    assert isinstance(llm.llms[0], Tier)
    assert str(llm.complete("Why tiers?")) == ANSWER
    assert [len(fault_server.attempts(n)) for n in ("east", "west", "backup")] == [2, 1, 0]
