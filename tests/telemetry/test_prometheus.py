"""Prometheus metrics: real chains through the hook, values read back from a fresh registry."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter

from fallback_core import (
    Breaker,
    Category,
    Chain,
    ConfigurationError,
    Health,
    Hop,
    Policy,
    Rule,
)
from fallback_core.prometheus import PrometheusHook
from tests.core.conftest import Drive
from tests.core.errors import openai_error
from tests.core.scripted import Scripted, Stall, cut, ok


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def two_hops(
    primary: Scripted,
    backup: Scripted,
    hook: PrometheusHook,
    *,
    health: Health | None = None,
    rules: dict[Category, Rule] | None = None,
) -> Chain[object]:
    return Chain(
        [Hop(primary, name="p", model="m1"), Hop(backup, name="b", model="m2")],
        policy=Policy(rules=rules or {}, backoff=lambda n: 0.0),
        hooks=[hook],
        health=health,
    )


def test_attempts_retries_and_fallbacks_are_counted(
    drive: Drive, registry: CollectorRegistry
) -> None:
    """A retried 503 then a fallback count two failed attempts, one retry and one fallback."""
    hook = PrometheusHook(registry)
    drive(two_hops(Scripted(openai_error(503)), Scripted(ok("fine")), hook))
    value = registry.get_sample_value
    failed = {"hop": "p", "model": "m1", "outcome": "failed", "category": "server"}
    assert value("fallback_attempts_total", failed) == 2
    served = {"hop": "b", "model": "m2", "outcome": "ok", "category": ""}
    assert value("fallback_attempts_total", served) == 1
    assert value("fallback_retries_total", {"hop": "p", "reason": "server"}) == 1
    assert value("fallback_fallbacks_total", {"from": "p", "to": "b", "reason": "server"}) == 1
    assert value("fallback_exhausted_total") == 0


def test_every_attempt_is_timed(drive: Drive, registry: CollectorRegistry) -> None:
    """Each attempt lands in the latency histogram; only attempts that produced text have a TTFT."""
    hook = PrometheusHook(registry)
    drive(two_hops(Scripted(openai_error(503)), Scripted(ok("fine")), hook))
    value = registry.get_sample_value
    assert value("fallback_hop_latency_seconds_count", {"hop": "p", "outcome": "failed"}) == 2
    assert value("fallback_hop_latency_seconds_count", {"hop": "b", "outcome": "ok"}) == 1
    assert value("fallback_time_to_first_token_seconds_count", {"hop": "b"}) == 1
    assert value("fallback_time_to_first_token_seconds_count", {"hop": "p"}) is None


def test_exhausted_chain_is_counted(drive: Drive, registry: CollectorRegistry) -> None:
    """A call where every hop fails counts once as exhausted."""
    hook = PrometheusHook(registry)
    drive(two_hops(Scripted(openai_error(401)), Scripted(openai_error(401)), hook))
    assert registry.get_sample_value("fallback_exhausted_total") == 1
    fallback = {"from": "p", "to": "b", "reason": "auth"}
    assert registry.get_sample_value("fallback_fallbacks_total", fallback) == 1


def test_continuation_is_counted_by_strategy(drive: Drive, registry: CollectorRegistry) -> None:
    """A stream cut mid-answer counts a truncated attempt and a continuation by the next hop."""
    hook = PrometheusHook(registry)
    drive(two_hops(Scripted(cut("The quick")), Scripted(ok("quick brown fox")), hook))
    value = registry.get_sample_value
    cut_off = {"hop": "p", "model": "m1", "outcome": "failed", "category": "truncated"}
    assert value("fallback_attempts_total", cut_off) == 1
    assert value("fallback_continuations_total", {"hop": "b", "strategy": "instruct"}) == 1


def test_hedge_is_counted_with_the_outrun_attempt(
    drive: Drive, registry: CollectorRegistry
) -> None:
    """A hedged start counts the race and the primary's attempt as hedge_lost."""
    hook = PrometheusHook(registry)
    primary = Scripted([Stall(5), "late"])
    chain = Chain(
        [Hop(primary, name="p", model="m1"), Hop(Scripted(ok("fast")), name="b", model="m2")],
        policy=Policy(hedge_after=0.05),
        hooks=[hook],
    )
    drive(chain)
    value = registry.get_sample_value
    assert value("fallback_hedges_total", {"hop": "p", "rival": "b"}) == 1
    lost = {"hop": "p", "model": "m1", "outcome": "hedge_lost", "category": ""}
    assert value("fallback_attempts_total", lost) == 1


def test_open_circuit_skips_are_counted_and_shown(
    drive: Drive, registry: CollectorRegistry
) -> None:
    """A watched circuit that opens shows 2, and the hop it skips is counted."""
    hook = PrometheusHook(registry)
    health = Health(Breaker(failure_threshold=1, cooldown=30), clock=Clock())
    hook.watch(health)
    chain = two_hops(
        Scripted(openai_error(503)),
        Scripted(ok("fine")),
        hook,
        health=health,
        rules={Category.SERVER: Rule(retries=0)},
    )
    drive(chain)
    assert registry.get_sample_value("fallback_circuit_state", {"identity": "p"}) == 2
    drive(chain)
    skipped = {"hop": "p", "reason": "circuit open"}
    assert registry.get_sample_value("fallback_skipped_total", skipped) == 1


def test_circuit_state_follows_every_transition(registry: CollectorRegistry) -> None:
    """The gauge reads 2 when a circuit opens, 1 while it is probed, 0 once it closes."""
    hook = PrometheusHook(registry)
    clock = Clock()
    health = Health(Breaker(failure_threshold=1, cooldown=30), clock=clock, listeners=[])
    health.listeners.append(hook.health_listener)
    state = {"identity": "p"}
    health.record("p", "failure", "boom")
    assert registry.get_sample_value("fallback_circuit_state", state) == 2
    clock.now += 30
    assert health.admit("p")
    assert registry.get_sample_value("fallback_circuit_state", state) == 1
    health.record("p", "success")
    assert registry.get_sample_value("fallback_circuit_state", state) == 0


def test_watch_reads_circuits_already_open_and_listens_once(registry: CollectorRegistry) -> None:
    """Watching a Health shows circuits opened before, and watching twice adds one listener."""
    hook = PrometheusHook(registry)
    health = Health(Breaker(failure_threshold=1), clock=Clock())
    health.record("p", "failure")
    health.record("b", "success")
    hook.watch(health)
    hook.watch(health)
    assert registry.get_sample_value("fallback_circuit_state", {"identity": "p"}) == 2
    assert registry.get_sample_value("fallback_circuit_state", {"identity": "b"}) == 0
    assert len(health.listeners) == 1


def test_alias_resolutions_are_counted(registry: CollectorRegistry) -> None:
    """The hook's alias_resolved counts look-ups of a named chain by outcome."""
    hook = PrometheusHook(registry)
    hook.alias_resolved("fast")
    hook.alias_resolved("fast")
    hook.alias_resolved("nope", "unknown")
    value = registry.get_sample_value
    assert value("fallback_alias_resolutions_total", {"alias": "fast", "outcome": "resolved"}) == 2
    assert value("fallback_alias_resolutions_total", {"alias": "nope", "outcome": "unknown"}) == 1


def test_hooks_on_one_registry_share_its_metrics(drive: Drive, registry: CollectorRegistry) -> None:
    """A second hook on the same registry reuses the metrics, so two chains add up."""
    first, second = PrometheusHook(registry), PrometheusHook(registry)
    drive(two_hops(Scripted(openai_error(401)), Scripted(openai_error(401)), first))
    drive(two_hops(Scripted(openai_error(401)), Scripted(openai_error(401)), second))
    assert registry.get_sample_value("fallback_exhausted_total") == 2


def test_namespace_separates_metrics_on_one_registry(registry: CollectorRegistry) -> None:
    """Hooks with different namespaces on one registry keep separate metrics."""
    PrometheusHook(registry, namespace="llm").alias_resolved("a")
    PrometheusHook(registry).alias_resolved("a")
    PrometheusHook(registry).alias_resolved("a")
    labels = {"alias": "a", "outcome": "resolved"}
    assert registry.get_sample_value("llm_alias_resolutions_total", labels) == 1
    assert registry.get_sample_value("fallback_alias_resolutions_total", labels) == 2


def test_name_taken_by_another_collector_is_a_clear_error(registry: CollectorRegistry) -> None:
    """A clash with a metric the hook did not make names it, and registers nothing."""
    Counter("fallback_retries", "someone else's", registry=registry)
    with pytest.raises(ConfigurationError, match="fallback_retries") as caught:
        PrometheusHook(registry)
    assert caught.value.field == "namespace"
    assert registry.get_sample_value("fallback_exhausted_total") is None


def test_default_registry_is_prometheus_clients() -> None:
    """Without a registry the metrics go to prometheus_client's default REGISTRY."""
    hook = PrometheusHook(namespace="fallback_default_registry_test")
    hook.alias_resolved("a")
    labels = {"alias": "a", "outcome": "resolved"}
    name = "fallback_default_registry_test_alias_resolutions_total"
    assert hook.registry is REGISTRY
    assert REGISTRY.get_sample_value(name, labels) == 1


def test_alias_look_ups_are_counted_from_the_config() -> None:
    """A config listening hook counts each alias look-up by how it went."""
    from prometheus_client import CollectorRegistry

    from fallback_core.config import ChainConfig, NoUsableModelError, Unresolvable
    from fallback_core.prometheus import PrometheusHook

    registry = CollectorRegistry()
    hook = PrometheusHook(registry)
    config = ChainConfig(
        {"default": ["openai/b"], "aliases": {"fast": ["openai/a"]}},
        listeners=[hook.config_listener],
    )

    def resolve(entry: object) -> object:
        return entry

    def refuse_all(entry: object) -> object:
        raise Unresolvable("not installed")

    config.plan("fast", resolve)
    with pytest.raises(ValueError, match="unknown alias 'missing'"):  # a ConfigurationError now
        config.plan("missing", resolve)
    with pytest.raises(NoUsableModelError):
        config.plan("fast", refuse_all)

    def count(alias: str, outcome: str) -> float | None:
        return registry.get_sample_value(
            "fallback_alias_resolutions_total", {"alias": alias, "outcome": outcome}
        )

    assert (count("fast", "resolved"), count("missing", "unknown")) == (1.0, None)
    assert count("fast", "unusable") == 1.0
