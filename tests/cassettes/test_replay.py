"""Every cassette, replayed offline through the real adapters and real OpenAI / Anthropic clients.

No fault server runs here and the network is blocked: each request is
answered from its cassette or refused. Each cassette is played through the
adapter's sync and async methods, streaming and not.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
import yaml
from vcr.cassette import Cassette
from vcr.errors import CannotOverwriteExistingCassetteException

from tests.cassettes.live_scenarios import LIVE_SCENARIOS
from tests.cassettes.recording import CASSETTES, FAULT_SERVER_URL
from tests.cassettes.scenarios import (
    ANSWER,
    ANTHROPIC_SCENARIOS,
    LANGCHAIN_KINDS,
    LANGCHAIN_SCENARIOS,
    LLAMAINDEX_KINDS,
    LLAMAINDEX_SCENARIOS,
    Adapter,
    Clients,
    Scenario,
    ask,
    attempts_of,
    build,
)

ADAPTERS: tuple[tuple[Adapter, tuple[Scenario, ...], tuple[str, ...]], ...] = (
    ("langchain", LANGCHAIN_SCENARIOS, LANGCHAIN_KINDS),
    ("llamaindex", LLAMAINDEX_SCENARIOS, LLAMAINDEX_KINDS),
    ("langchain-anthropic", ANTHROPIC_SCENARIOS, LANGCHAIN_KINDS),
)
# Replayed in tests/llamaindex_anthropic, where the anthropic SDK suits the integration.
RECORDED_ELSEWHERE = (("llamaindex-anthropic", ANTHROPIC_SCENARIOS),)
REPLAYS = [
    pytest.param(
        adapter,
        scenario,
        kind,
        marks=pytest.mark.default_cassette(scenario.cassette(adapter)),
        id=f"{adapter}-{scenario.name}-{kind}",
    )
    for adapter, scenarios, kinds in ADAPTERS
    for scenario in scenarios
    for kind in kinds
]
HAPPY = next(s for s in LANGCHAIN_SCENARIOS if s.name == "happy_path")
TRUNCATED = next(s for s in LANGCHAIN_SCENARIOS if s.name == "truncated_stream_continued")


@pytest.mark.vcr
@pytest.mark.block_network
@pytest.mark.parametrize(("adapter", "scenario", "kind"), REPLAYS)
def test_cassette_replays_to_its_recorded_outcome(
    adapter: Adapter, scenario: Scenario, kind: str, clients: Clients, vcr: Cassette
) -> None:
    """A replayed cassette gives the whole answer, from the same hop after the same attempts."""
    model = build(adapter, scenario, FAULT_SERVER_URL, clients)

    outcome = ask(adapter, model, kind)

    assert outcome.text == ANSWER
    assert outcome.trace["served_by"] == scenario.served_by
    assert attempts_of(outcome.trace) == scenario.attempts
    assert vcr.play_count == len(vcr) == len(scenario.attempts)


@pytest.mark.vcr
@pytest.mark.block_network
@pytest.mark.default_cassette(HAPPY.cassette("langchain"))
@pytest.mark.parametrize("base_url", ["http://127.0.0.1:1/v1", "http://localhost:48213/v1"])
def test_replay_does_not_depend_on_the_fault_server_port(
    base_url: str, clients: Clients, vcr: Cassette
) -> None:
    """Clients pointed at any loopback port are answered from a cassette recorded on another."""
    model = build("langchain", HAPPY, base_url, clients)

    outcome = ask("langchain", model, "stream")

    assert outcome.text == ANSWER
    assert vcr.all_played


@pytest.mark.vcr
@pytest.mark.block_network
@pytest.mark.default_cassette(HAPPY.cassette("langchain"))
def test_a_request_missing_from_its_cassette_is_refused_not_sent(
    clients: Clients, vcr: Cassette
) -> None:
    """A request the cassette does not hold fails with vcrpy's refusal instead of reaching out."""
    client = openai.OpenAI(
        base_url=FAULT_SERVER_URL, api_key="test", max_retries=0, http_client=clients.sync
    )

    with pytest.raises(openai.APIConnectionError) as caught:
        client.chat.completions.create(
            model="unrecorded", messages=[{"role": "user", "content": "Anyone there?"}]
        )

    assert isinstance(caught.value.__cause__, CannotOverwriteExistingCassetteException)
    assert vcr.play_count == 0


def test_every_cassette_is_the_recording_of_one_scenario() -> None:
    """The cassettes on disk are exactly those the scenarios record: none missing, none stale."""
    expected = {
        f"{scenario.cassette(adapter)}.yaml"
        for adapter, scenarios in [*((a, s) for a, s, _ in ADAPTERS), *RECORDED_ELSEWHERE]
        for scenario in scenarios
    } | {
        f"{scenario.cassette(adapter)}{suffix}"
        for adapter in ("langchain", "llamaindex")
        for scenario in LIVE_SCENARIOS
        for suffix in (".yaml", ".json")
    }
    on_disk = {
        p.relative_to(CASSETTES).as_posix()
        for p in CASSETTES.rglob("*")
        if p.suffix in (".yaml", ".json")
    }

    assert on_disk == expected


@pytest.mark.parametrize("adapter", ["langchain", "llamaindex"])
def test_truncated_cassette_holds_the_tokens_sent_before_the_cut(adapter: Adapter) -> None:
    """The cut stream's cassette keeps its four token events: no finish reason, no [DONE]."""
    cassette = CASSETTES / f"{TRUNCATED.cassette(adapter)}.yaml"
    interactions: list[dict[str, Any]] = yaml.safe_load(cassette.read_text("utf-8"))["interactions"]

    body: str = interactions[0]["response"]["body"]["string"]
    events = [line for line in body.splitlines() if line.startswith("data: ")]

    assert len(events) == 4
    assert '"finish_reason": null' in events[-1]
    assert "[DONE]" not in body
    assert '"finish_reason": "stop"' not in body
