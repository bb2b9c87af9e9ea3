"""Four worker processes while the primary is down: shared health keeps the fleet off it."""

from __future__ import annotations

from benchmarks.fleet import run_fleet
from fallback_core.testing import FaultServer
from fallback_core.testing.redis_server import RedisServer

from .conftest import SLACK

WORKERS, THRESHOLD, COOLDOWN, OUTAGE = 4, 3, 0.5, 2.0


def test_a_fleet_sharing_health_hits_a_dead_primary_a_threshold_and_a_probe_per_cooldown(
    redis_server: RedisServer,
) -> None:
    """Fleet-wide, the primary gets at most the threshold (plus the attempts already in flight
    when its circuit opened, one per other worker) and one probe per cooldown; every call is
    served; after recovery each worker is back on the primary within one cooldown (plus the
    probe call itself)."""
    with FaultServer() as server:
        run = run_fleet(
            server,
            redis_server.url,
            workers=WORKERS,
            threshold=THRESHOLD,
            cooldown=COOLDOWN,
            outage=OUTAGE,
            timeout=SLACK,
        )
    assert run.probes_allowed == 5
    assert run.primary_failures <= THRESHOLD + (WORKERS - 1) + run.probes_allowed
    assert run.primary_failures >= THRESHOLD, "the outage was seen"
    assert run.served == run.total
    assert all(len(worker) >= 3 for worker in run.calls), "every worker kept calling"
    backs = run.back_on_primary()
    assert all(back is not None and back <= COOLDOWN + 0.5 for back in backs), backs
