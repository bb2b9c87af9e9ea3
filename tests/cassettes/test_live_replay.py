"""The live cassettes - a real model's traffic through the proxying fault server - replayed offline.

No model, no fault server and no network here: each request is answered from
its cassette or refused. Each cassette is played through the adapter's sync
and async methods, streaming and not, and must give exactly the answer the
chain gave while recording (its sidecar), from the same hops after the same
attempts. Recording them needs the model: ``scripts/record_live_cassettes.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from vcr.cassette import Cassette

from tests.cassettes.live_scenarios import CUT, LIVE, LIVE_SCENARIOS, LiveScenario, build_live
from tests.cassettes.recording import FAULT_SERVER_URL
from tests.cassettes.scenarios import (
    LANGCHAIN_KINDS,
    LLAMAINDEX_KINDS,
    Adapter,
    Clients,
    ask,
    attempts_of,
)

KINDS: dict[Adapter, tuple[str, ...]] = {
    "langchain": LANGCHAIN_KINDS,
    "llamaindex": LLAMAINDEX_KINDS,
}
REPLAYS = [
    pytest.param(
        adapter,
        scenario,
        kind,
        marks=pytest.mark.default_cassette(scenario.cassette(adapter)),
        id=f"live-{adapter}-{scenario.name}-{kind}",
    )
    for adapter, kinds in KINDS.items()
    for scenario in LIVE_SCENARIOS
    for kind in kinds
]
TRUNCATED = next(s for s in LIVE_SCENARIOS if s.name == "truncated_stream_continued")


@pytest.mark.vcr
@pytest.mark.block_network
@pytest.mark.parametrize(("adapter", "scenario", "kind"), REPLAYS)
def test_live_cassette_replays_to_the_answer_it_recorded(
    adapter: Adapter, scenario: LiveScenario, kind: str, clients: Clients, vcr: Cassette
) -> None:
    """A replayed live cassette gives the recorded answer, from the same hop, same attempts."""
    recorded = scenario.recorded(adapter)
    model = build_live(adapter, FAULT_SERVER_URL, clients)

    outcome = ask(adapter, model, kind)

    assert outcome.text == recorded.text
    assert outcome.trace["served_by"] == scenario.served_by == recorded.served_by
    assert attempts_of(outcome.trace) == scenario.attempts == recorded.attempts
    assert vcr.play_count == len(vcr) == len(scenario.attempts)


def _content_events(body: str) -> list[dict[str, Any]]:
    events = [line[6:] for line in body.splitlines() if line.startswith("data: {")]
    return [json.loads(event) for event in events]


@pytest.mark.parametrize("adapter", ["langchain", "llamaindex"])
def test_live_cut_cassette_holds_the_primary_text_the_answer_starts_with(
    adapter: Adapter,
) -> None:
    """The cut stream keeps its content chunks and no end; the answer begins with their text."""
    cassette = LIVE / adapter / f"{TRUNCATED.name}.yaml"
    interactions: list[dict[str, Any]] = yaml.safe_load(cassette.read_text("utf-8"))["interactions"]
    recorded = TRUNCATED.recorded(adapter)

    body: str = interactions[0]["response"]["body"]["string"]
    chunks = [event["choices"][0] for event in _content_events(body) if event["choices"]]
    texts = [choice["delta"].get("content") or "" for choice in chunks]

    assert sum(1 for text in texts if text) == CUT
    assert all(choice["finish_reason"] is None for choice in chunks)
    assert "[DONE]" not in body
    assert "".join(texts) == recorded.primary_text
    assert recorded.text.startswith(recorded.primary_text)
    assert recorded.text[len(recorded.primary_text) :].strip()


def test_live_cassettes_name_the_fault_server_models_only() -> None:
    """Relayed answers carry the name the client asked for, never the upstream's model file."""
    for cassette in sorted(LIVE.rglob("*.yaml")):
        interactions = yaml.safe_load(cassette.read_text("utf-8"))["interactions"]
        for interaction in interactions:
            response = interaction["response"]
            if response["status"]["code"] != 200:
                continue
            models = {event.get("model") for event in _content_events(response["body"]["string"])}
            assert models <= {"primary", "backup"}, cassette
