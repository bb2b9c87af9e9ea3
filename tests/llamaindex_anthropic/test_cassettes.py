"""The cassettes of LlamaIndex `Anthropic` traffic, replayed offline (network blocked)."""

from __future__ import annotations

import pytest
from vcr.cassette import Cassette

from tests.cassettes.conftest import clients, record_mode, vcr_cassette_dir, vcr_config
from tests.cassettes.recording import FAULT_SERVER_URL
from tests.cassettes.scenarios import (
    ANSWER,
    ANTHROPIC_SCENARIOS,
    LLAMAINDEX_KINDS,
    Clients,
    Scenario,
    ask,
    attempts_of,
    build,
)

__all__ = ["clients", "record_mode", "vcr_cassette_dir", "vcr_config"]  # the cassette fixtures

REPLAYS = [
    pytest.param(
        scenario,
        kind,
        marks=pytest.mark.default_cassette(scenario.cassette("llamaindex-anthropic")),
        id=f"{scenario.name}-{kind}",
    )
    for scenario in ANTHROPIC_SCENARIOS
    for kind in LLAMAINDEX_KINDS
]


@pytest.mark.vcr
@pytest.mark.block_network
@pytest.mark.parametrize(("scenario", "kind"), REPLAYS)
def test_cassette_replays_to_its_recorded_outcome(
    scenario: Scenario, kind: str, clients: Clients, vcr: Cassette
) -> None:
    """A replayed Claude cassette gives the whole answer, after the same attempts."""
    model = build("llamaindex-anthropic", scenario, FAULT_SERVER_URL, clients)

    outcome = ask("llamaindex-anthropic", model, kind)

    assert outcome.text == ANSWER
    assert attempts_of(outcome.trace) == scenario.attempts
    assert vcr.play_count == len(vcr) == len(scenario.attempts)
