"""Weighted tiers: equivalent deployments share one place in the chain."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from fallback_core import Breaker, Chain, ConfigurationError, Health, Hop, Tier

from .conftest import Drive
from .errors import openai_error
from .scripted import Scripted, ok


def deployment(name: str, *script: object, weight: float = 1.0) -> Hop[object]:
    target = Scripted(*(script or (ok(name),)), name=name)  # type: ignore[arg-type]
    return Hop(target, name=name, weight=weight)


def served(chain: Chain[object], n: int) -> Counter[str | None]:
    counts: Counter[str | None] = Counter()
    for _ in range(n):
        stream = chain.stream("r")
        for _ in stream:
            pass
        counts[stream.trace.served_by] += 1
    return counts


def test_steady_traffic_follows_the_weights() -> None:
    """Over many calls each deployment serves its weighted share (a loose statistical bound)."""
    chain = Chain(
        [Tier([deployment("a", weight=3), deployment("b", weight=1)])], rng=random.Random(7)
    )
    counts = served(chain, 2000)
    assert 0.70 <= counts["a"] / 2000 <= 0.80, counts


def test_zero_total_weight_picks_uniformly() -> None:
    """With every weight zero the pick is uniform."""
    chain = Chain(
        [Tier([deployment("a", weight=0), deployment("b", weight=0)])], rng=random.Random(3)
    )
    counts = served(chain, 2000)
    assert 0.45 <= counts["a"] / 2000 <= 0.55, counts


def test_a_failed_deployment_is_replaced_inside_the_tier_first(drive: Drive) -> None:
    """A failure re-picks among the tier's other deployments before the next place."""
    a = deployment("a", openai_error(401))
    b = deployment("b")
    backup = deployment("backup")
    chain = Chain([Tier([a, b]), backup], rng=random.Random(0))
    for _ in range(10):
        run = drive(chain)
        assert run.trace.served_by == "b"
        assert "backup" not in [x.hop for x in run.trace.attempts]


def test_every_deployment_failing_moves_to_the_next_place(drive: Drive) -> None:
    """When the whole tier fails in a call, the next place serves; each deployment tried once."""
    a, b = deployment("a", openai_error(401)), deployment("b", openai_error(403))
    chain = Chain([Tier([a, b]), deployment("backup")])
    run = drive(chain)
    assert run.trace.served_by == "backup"
    assert sorted(x.hop for x in run.trace.attempts[:2]) == ["a", "b"]


def test_exclusions_belong_to_the_call(drive: Drive) -> None:
    """A deployment that failed in one call is still picked in the next call."""
    flaky = Scripted(openai_error(401), ok("a"), name="a")
    chain = Chain(
        [Tier([Hop(flaky, name="a", weight=1), Hop(Scripted(ok("b")), name="b", weight=0)])]
    )
    assert drive(chain).trace.served_by == "b"
    assert drive(chain).trace.served_by == "a", "the first call's exclusion did not leak"


def test_open_deployments_are_passed_over_inside_the_tier(drive: Drive) -> None:
    """With shared health, a deployment whose circuit is open is not picked."""
    health = Health(Breaker(failure_threshold=1, cooldown=60))
    health.record("a", "failure")
    chain = Chain([Tier([deployment("a", weight=100), deployment("b", weight=1)])], health=health)
    for _ in range(5):
        assert drive(chain).trace.served_by == "b"


def test_bad_tiers_are_refused() -> None:
    """An empty tier or a negative weight is named at construction."""
    with pytest.raises(ConfigurationError, match=r"hops\[0\]\.hops: no deployments"):
        Chain([Tier([])])
    with pytest.raises(ConfigurationError, match=r"hops\[1\]\.hops\[0\]\.weight"):
        Chain([deployment("x"), Tier([deployment("y", weight=-1)])])
