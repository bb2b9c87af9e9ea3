"""The healthy path: what each system costs over the bare model, call by call, side by side.

For each framework and call (``stream`` / ``astream`` / ``invoke`` /
``ainvoke``; ``stream_chat`` / ``astream_chat`` / ``chat`` / ``achat``) and
each pace (no delay between tokens, and `TOKEN_DELAY`), every entrant makes
``requests`` calls, interleaved round by round in a rotating order, so drift
in a shared machine hits all of them alike. Per entrant: the median wall time
and the CPU time per chunk of the answer (the client process's CPU - the
server runs in another process - over the `TOKENS` chunks the server streams, also
for a non-streamed call); against the bare model of the same round: the
median per-round wall ratio and the ratio of the CPU sums.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .entrants import CALLS, Call, Entrant, entrants
from .scenarios import ANSWER, TOKENS
from .server import RemoteFaultServer
from .systems import HttpClients

__all__ = ["TOKENS", "PathResult", "as_dict", "measure_healthy", "one_call"]


@dataclass(frozen=True, slots=True)
class PathResult:
    """One entrant on one call at one pace, and its ratios against the bare model."""

    framework: str
    call: str
    token_delay: float
    system: str
    requests: int
    wall_median: float
    wall_p25: float
    wall_p75: float
    cpu_per_chunk_us: float
    wall_ratio: float
    """Median over the rounds of this entrant's wall time over the bare model's."""
    wall_ratio_p25: float
    wall_ratio_p75: float
    cpu_ratio: float
    """This entrant's CPU time over the bare model's, summed over the rounds."""
    complete: int
    """Calls that returned exactly the canonical answer."""


@dataclass(slots=True)
class _Sample:
    wall: float
    cpu: float
    ok: bool


async def one_call(entrant: Entrant, call: Call) -> _Sample:
    """One timed call: wall and process CPU time, and whether the answer was exact."""
    run = entrant.calls[call.name]
    wall, cpu = time.perf_counter(), time.process_time()
    text = await run() if call.is_async else run()
    return _Sample(time.perf_counter() - wall, time.process_time() - cpu, text == ANSWER)


def _quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


async def _group(
    call: Call, token_delay: float, group: Sequence[Entrant], requests: int, warmup: int
) -> list[PathResult]:
    samples: dict[str, list[_Sample]] = {e.key: [] for e in group}
    for _ in range(warmup):
        for entrant in group:
            await one_call(entrant, call)
    for i in range(requests):
        shift = i % len(group)
        for entrant in [*group[shift:], *group[:shift]]:
            samples[entrant.key].append(await one_call(entrant, call))
    bare = samples["bare"]
    results = []
    for entrant in group:
        mine = samples[entrant.key]
        walls = [s.wall for s in mine]
        ratios = [s.wall / b.wall for s, b in zip(mine, bare, strict=True)]
        p25, p75 = _quartiles(walls)
        r25, r75 = _quartiles(ratios)
        results.append(
            PathResult(
                framework=call.framework,
                call=call.name,
                token_delay=token_delay,
                system=entrant.key,
                requests=requests,
                wall_median=statistics.median(walls),
                wall_p25=p25,
                wall_p75=p75,
                cpu_per_chunk_us=1e6
                * sum(s.cpu for s in mine)
                / (requests * TOKENS * call.answers),
                wall_ratio=statistics.median(ratios),
                wall_ratio_p25=r25,
                wall_ratio_p75=r75,
                cpu_ratio=sum(s.cpu for s in mine) / sum(s.cpu for s in bare),
                complete=sum(s.ok for s in mine),
            )
        )
    return results


async def measure_healthy(
    server: RemoteFaultServer,
    token_delay: float,
    *,
    requests: int,
    warmup: int = 2,
    calls: Sequence[Call] = CALLS,
    systems: Sequence[str] | None = None,
    progress: bool = True,
) -> list[PathResult]:
    """Every call of both frameworks, every entrant that offers it, against `server`."""
    server.reset()
    http = HttpClients()
    results: list[PathResult] = []
    try:
        everyone = entrants(server.base_url, http, systems)
        for call in calls:
            group = [e for e in everyone if e.supports(call)]
            if not any(e.key == "bare" for e in group) or len(group) < 2:
                continue
            rows = await _group(call, token_delay, group, requests, warmup)
            results += rows
            if progress:
                for r in rows:
                    _print(r)
    finally:
        await http.aclose()
    return results


def _print(r: PathResult) -> None:
    pace = f"{r.token_delay * 1000:g} ms" if r.token_delay else "0 ms"
    print(
        f"  {r.framework:<10} {r.call:<12} {pace:>5} {r.system:<15} "
        f"wall {r.wall_median * 1000:6.1f} ms ({r.wall_ratio:.3f}x)  "
        f"cpu/chunk {r.cpu_per_chunk_us:6.0f} us ({r.cpu_ratio:.3f}x)  "
        f"complete {r.complete}/{r.requests}",
        flush=True,
    )


def as_dict(result: PathResult) -> dict[str, Any]:
    """A JSON-friendly form."""
    return dataclasses.asdict(result)
