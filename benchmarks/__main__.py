"""Run the benchmarks, results into benchmarks/results/: ``python -m benchmarks [--quick]``.

``--profile`` profiles our adapters' healthy paths instead (see `benchmarks.profiling`).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
PARTS = ("matrix", "flapping", "healthy", "load", "fleet")


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much of each part to run."""

    paced_requests: int
    unpaced_requests: int
    load_streams: int
    traced_streams: int
    flapping_requests: int
    flapping_down_for: float
    fleet_outage: float


FULL = Sizes(
    paced_requests=6,
    unpaced_requests=40,
    load_streams=1000,
    traced_streams=100,
    flapping_requests=24,
    flapping_down_for=3.0,
    fleet_outage=5.0,
)
QUICK = Sizes(
    paced_requests=2,
    unpaced_requests=4,
    load_streams=100,
    traced_streams=20,
    flapping_requests=8,
    flapping_down_for=1.0,
    fleet_outage=2.0,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: three scenarios, small sizes"
    )
    parser.add_argument(
        "--scenarios", help="comma-separated scenario keys (default: all, or the quick three)"
    )
    parser.add_argument("--systems", help="comma-separated system keys (default: all)")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile our adapters' healthy paths instead (cProfile, tracemalloc)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the results go")
    return parser


def _pick(keys: str | None, known: Sequence[str], what: str) -> list[str]:
    if not keys:
        return list(known)
    chosen = [k.strip() for k in keys.split(",") if k.strip()]
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(known)}")
    return chosen


async def run(args: argparse.Namespace) -> Path:
    """Run the chosen parts and write the results; the markdown report's path."""
    from .healthy import measure_healthy
    from .load import measure_load
    from .measure import call, run_flapping, run_matrix
    from .report import Results, write
    from .scenarios import MODELS, QUICK_SCENARIOS, SCENARIOS, TOKEN_DELAY, Flapping
    from .server import RemoteFaultServer
    from .systems import SYSTEMS

    started = time.perf_counter()
    sizes = QUICK if args.quick else FULL
    default_scenarios = ",".join(QUICK_SCENARIOS) if args.quick else None
    scenario_keys = _pick(
        args.scenarios or default_scenarios, [s.key for s in SCENARIOS], "scenarios"
    )
    scenarios = [s for s in SCENARIOS if s.key in scenario_keys]
    system_keys = _pick(args.systems, [s.key for s in SYSTEMS], "systems")
    systems = [s for s in SYSTEMS if s.key in system_keys]
    parts = _pick(args.parts, PARTS, "parts")
    flapping = Flapping(down_for=sizes.flapping_down_for, requests=sizes.flapping_requests)
    results = Results(quick=args.quick, scenarios=scenarios, systems=systems, flapping=flapping)

    def stage(name: str) -> None:
        print(f"== {name} ({time.perf_counter() - started:.0f} s in)", flush=True)

    with RemoteFaultServer(MODELS, token_delay=TOKEN_DELAY) as server:
        stage("warm-up: one healthy call per system")
        for system in systems:
            server.reset()
            client = system.build(server.base_url, SCENARIOS[0])
            await call(client)
            await client.aclose()
        if "matrix" in parts:
            stage("scenarios x systems")
            results.cells = await run_matrix(server, systems, scenarios)
        if "flapping" in parts:
            stage(f"flapping primary: {flapping.requests} requests per system")
            for system in systems:
                run_ = await run_flapping(server, system, flapping, SCENARIOS[0])
                results.flapping_runs.append(run_)
                print(
                    f"  {system.key:<20} served {dict(run_.served_by)} "
                    f"primary attempts {run_.primary_attempts} "
                    f"({run_.primary_attempts_during_outage} in the outage), {run_.wall:.1f} s",
                    flush=True,
                )
        if "healthy" in parts:
            stage(f"healthy path, {TOKEN_DELAY * 1000:g} ms/token: {sizes.paced_requests} rounds")
            results.healthy += await measure_healthy(
                server, TOKEN_DELAY, requests=sizes.paced_requests
            )
        if "load" in parts:
            stage(f"load: {sizes.load_streams} concurrent streams, each system in a process")
            results.load = await measure_load(
                server, streams=sizes.load_streams, traced_streams=sizes.traced_streams
            )
    if "healthy" in parts:
        stage(f"healthy path, zero latency: {sizes.unpaced_requests} rounds")
        with RemoteFaultServer(MODELS, token_delay=0.0) as fast:
            results.healthy[:0] = await measure_healthy(fast, 0.0, requests=sizes.unpaced_requests)
    if "fleet" in parts:
        stage(f"fleet: 4 processes, primary down {sizes.fleet_outage:g} s, local vs Redis health")
        results.fleet, results.fleet_latency = await asyncio.to_thread(
            _fleet_rows, sizes.fleet_outage
        )
        for row in [*results.fleet, *results.fleet_latency]:
            print(f"  {row}", flush=True)
    results.duration = time.perf_counter() - started
    paths = write(results, args.out)
    print(f"== done in {results.duration / 60:.1f} min: {', '.join(map(str, paths.values()))}")
    return paths["markdown"]


def _fleet_rows(outage: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from fallback_core.testing import FaultServer
    from fallback_core.testing.redis_server import RedisServer

    from .fleet import consult_latency, describe, run_fleet

    with RedisServer() as redis_server, FaultServer() as server:
        runs = [run_fleet(server, url, outage=outage) for url in (None, redis_server.url)]
        return describe(runs), consult_latency(redis_server.url)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.profile:
        from .profiling import run_profiles

        asyncio.run(run_profiles(args.out, requests=10 if args.quick else 40))
        return 0
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
