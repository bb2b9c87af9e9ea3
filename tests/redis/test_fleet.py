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
    served; once one call has been served by the primary again, no worker is sent elsewhere."""
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
    back = run.first_back()
    assert back is not None, "a probe found the primary back"
    assert back >= run.recovered_at
    assert run.off_primary_after(back) == [], "a worker stayed away from a recovered primary"
    assert all(any(c.started > back for c in worker) for worker in run.calls), "all kept calling"
