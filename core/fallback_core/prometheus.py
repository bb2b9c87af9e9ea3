"""Prometheus metrics for chains: a telemetry hook and a `Health` listener.

Needs the ``prometheus`` extra (``pip install 'fallback-chain[prometheus]'``).
Only this module imports prometheus_client; ``import fallback_core`` never does.

    hook = PrometheusHook()  # into prometheus_client's default REGISTRY
    chain = Chain(hops, hooks=[hook], health=health)
    hook.watch(health)  # circuit_state follows the circuits

The metrics, under the ``fallback`` namespace by default::

    fallback_attempts_total{hop,model,outcome,category}  attempts, by how they ended
    fallback_fallbacks_total{from,to,reason}             the walk moved on to another hop
    fallback_retries_total{hop,reason}                   a hop is about to be tried again
    fallback_skipped_total{hop,reason}                   a hop was passed over (circuit open)
    fallback_continuations_total{hop,strategy}           a hop continued another's answer
    fallback_hedges_total{hop,rival}                     a slow hop was raced by the next
    fallback_exhausted_total                             calls where no hop finished
    fallback_hop_latency_seconds{hop,outcome}            attempt durations (histogram)
    fallback_time_to_first_token_seconds{hop}            waits for the first text (histogram)
    fallback_circuit_state{identity}                     0 closed, 1 half-open, 2 open
    fallback_alias_resolutions_total{alias,outcome}      named-chain look-ups
    fallback_health_store_lost_total                     the shared health store was lost
    fallback_health_store_available                      1 while it answers, 0 while lost

``reason`` and ``category`` are `Category` values (``"rate_limit"``, ``"server"``,
...); a label with nothing to say is ``""``.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, fields

from . import _events as events
from ._errors import ConfigurationError
from ._health import CircuitState, Health, Transition
from ._packages import needs_extra

with needs_extra("fallback_core.prometheus", "prometheus_client", "prometheus"):
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["PrometheusHook"]

_CIRCUIT_VALUES = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}

# LLM attempts run from a fraction of a second to minutes.
_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0)
_FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


class PrometheusHook:
    """Counts attempts, fallbacks, retries, skips and exhaustion; times each attempt.

    Pass it in ``Chain(hooks=[...])``. Metrics go to ``registry`` (by default
    prometheus_client's ``REGISTRY``) named ``{namespace}_...``. Hooks made
    for the same registry and namespace share one set of metrics, so one hook
    per chain is fine; a registry that already holds a metric of the same name
    from elsewhere raises `ConfigurationError` naming it.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, namespace: str = "fallback"
    ) -> None:
        self.registry = REGISTRY if registry is None else registry
        self.namespace = namespace
        self._m = _metrics_for(self.registry, namespace)

    def __call__(self, event: events.Event) -> None:
        m = self._m
        if isinstance(event, events.HopEnded):
            category = event.category.value if event.category else ""
            m.attempts.labels(event.hop, event.model or "", event.outcome, category).inc()
            m.latency.labels(event.hop, event.outcome).observe(event.latency)
            if event.time_to_first_token is not None:
                m.first_token.labels(event.hop).observe(event.time_to_first_token)
        elif isinstance(event, events.FallbackTriggered):
            m.fallbacks.labels(event.from_hop, event.to_hop, event.category.value).inc()
        elif isinstance(event, events.RetryScheduled):
            m.retries.labels(event.hop, event.category.value).inc()
        elif isinstance(event, events.HopSkipped):
            m.skipped.labels(event.hop, event.reason).inc()
        elif isinstance(event, events.ContinuationJoined):
            m.continuations.labels(event.hop, event.strategy).inc()
        elif isinstance(event, events.HedgeStarted):
            m.hedges.labels(event.hop, event.rival).inc()
        elif isinstance(event, events.ChainExhausted):
            m.exhausted.inc()
        elif isinstance(event, events.HealthStoreChanged):
            m.store_available.set(1 if event.available else 0)
            if not event.available:
                m.store_lost.inc()

    def health_listener(self, change: Transition) -> None:
        """Set ``circuit_state`` for a circuit that changed: a listener for `Health`."""
        self._m.circuit.labels(change.identity).set(_CIRCUIT_VALUES[change.new])

    def watch(self, health: Health) -> None:
        """Follow ``health``'s circuits: listen to its transitions and read the current states."""
        if self.health_listener not in health.listeners:
            health.listeners.append(self.health_listener)
        for identity, circuit in health.health().items():
            self._m.circuit.labels(identity).set(_CIRCUIT_VALUES[circuit.state])

    def alias_resolved(self, alias: str, outcome: str = "resolved") -> None:
        """Count one look-up of the named chain ``alias`` (``outcome``: e.g. ``"unknown"``)."""
        self._m.alias_resolutions.labels(alias, outcome).inc()

    def config_listener(self, record: object) -> None:
        """Count alias look-ups; usable in ``ChainConfig(listeners=[...])``.

        Outcomes: ``"resolved"``, ``"unknown"`` (served by the default chain
        only) and ``"unusable"`` (nothing could be built). Skipped entries are
        not counted here; each comes with the look-up that skipped it.
        """
        alias = getattr(record, "alias", None)
        used = getattr(record, "used", None)
        known = getattr(record, "known", None)
        if not isinstance(alias, str) or not isinstance(used, int) or not isinstance(known, bool):
            return  # an EntrySkipped, or anything else
        outcome = "unusable" if used == 0 else "resolved" if known else "unknown"
        self.alias_resolved(alias, outcome)


@dataclass(frozen=True, slots=True)
class _Metrics:
    attempts: Counter
    fallbacks: Counter
    retries: Counter
    skipped: Counter
    continuations: Counter
    hedges: Counter
    exhausted: Counter
    alias_resolutions: Counter
    store_lost: Counter
    store_available: Gauge
    latency: Histogram
    first_token: Histogram
    circuit: Gauge


_made: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, _Metrics]] = (
    weakref.WeakKeyDictionary()
)
_made_lock = threading.Lock()


def _metrics_for(registry: CollectorRegistry, namespace: str) -> _Metrics:
    """The metrics for ``registry`` and ``namespace``, registered on first use."""
    with _made_lock:
        known = _made.setdefault(registry, {})
        if namespace not in known:
            known[namespace] = _register(registry, _create(namespace))
        return known[namespace]


def _create(ns: str) -> _Metrics:
    def counter(name: str, doc: str, *labels: str) -> Counter:
        return Counter(name, doc, labels, namespace=ns, registry=None)

    return _Metrics(
        attempts=counter(
            "attempts",
            "Attempts on hops, by how they ended.",
            "hop",
            "model",
            "outcome",
            "category",
        ),
        fallbacks=counter("fallbacks", "Moves to another hop.", "from", "to", "reason"),
        retries=counter("retries", "Retries of the same hop.", "hop", "reason"),
        skipped=counter("skipped", "Hops passed over without a call.", "hop", "reason"),
        continuations=counter(
            "continuations", "Hops that continued another's answer.", "hop", "strategy"
        ),
        hedges=counter("hedges", "Slow hops raced by the next hop.", "hop", "rival"),
        exhausted=counter("exhausted", "Calls where no hop finished the answer."),
        alias_resolutions=counter(
            "alias_resolutions", "Look-ups of named chains.", "alias", "outcome"
        ),
        store_lost=counter(
            "health_store_lost", "Times the shared health store was lost (health kept locally)."
        ),
        store_available=Gauge(
            "health_store_available",
            "Whether the shared health store answered, as last heard by a call: 1 yes, 0 no.",
            namespace=ns,
            registry=None,
        ),
        latency=Histogram(
            "hop_latency_seconds",
            "Duration of each attempt.",
            ("hop", "outcome"),
            namespace=ns,
            registry=None,
            buckets=_LATENCY_BUCKETS,
        ),
        first_token=Histogram(
            "time_to_first_token_seconds",
            "Wait for each attempt's first text.",
            ("hop",),
            namespace=ns,
            registry=None,
            buckets=_FIRST_TOKEN_BUCKETS,
        ),
        circuit=Gauge(
            "circuit_state",
            "Circuit of each hop identity: 0 closed, 1 half-open, 2 open.",
            ("identity",),
            namespace=ns,
            registry=None,
        ),
    )


def _register(registry: CollectorRegistry, metrics: _Metrics) -> _Metrics:
    """Register every metric, or none: a clash undoes the ones already registered."""
    done: list[Counter | Histogram | Gauge] = []
    for metric in (getattr(metrics, field.name) for field in fields(metrics)):
        try:
            registry.register(metric)
        except ValueError as exc:  # prometheus_client's "Duplicated timeseries"
            for registered in done:
                registry.unregister(registered)
            raise ConfigurationError(
                "namespace",
                f"{exc}: the registry already holds these metrics from another collector",
                "a namespace (or a registry) no other collector uses",
            ) from exc
        done.append(metric)
    return metrics
