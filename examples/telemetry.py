"""Telemetry: one chain reporting to stdlib logging, Prometheus and OpenTelemetry at once.

Runs offline against the local fault server: the primary is rate-limited, then
down; shared health opens its circuit; every step shows up as a log line, a
metric and a span.

    python examples/telemetry.py
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("LANGSMITH_TRACING", "false")

from langchain_openai import ChatOpenAI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest

from fallback_core import Breaker, Health, LoggingHook
from fallback_core.otel import OpenTelemetryHook
from fallback_core.prometheus import PrometheusHook
from fallback_core.testing import Fault, FaultServer
from langchain_fallback import with_backups


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="log  %(levelname)-7s %(message)s")
    registry = CollectorRegistry()
    metrics = PrometheusHook(registry)
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    health = Health(Breaker(failure_threshold=2, cooldown=60))
    metrics.watch(health)

    with FaultServer() as server:
        server.set_fault("primary", Fault.server_error(503))

        def chat(model: str) -> ChatOpenAI:
            return ChatOpenAI(model=model, base_url=server.base_url, api_key="demo")

        llm = with_backups(
            chat("primary"),
            chat("backup"),
            hooks=[LoggingHook(), metrics, OpenTelemetryHook(provider)],
            health=health,
            backoff=lambda n: 0.0,
        )
        for _ in range(3):
            answer = llm.invoke("hello")
            print(f"call served by {answer.response_metadata['model_name']}")

    print("\nPrometheus (excerpt):")
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith(
            ("fallback_attempts_total{", "fallback_fallbacks_total{", "fallback_circuit")
        ):
            print("  ", line)
    print("\nOpenTelemetry spans:")
    for span in spans.get_finished_spans():
        attributes = dict(span.attributes or {})
        print(f"   {span.name:<16} outcome={attributes.get('fallback.outcome')}")


if __name__ == "__main__":
    main()
