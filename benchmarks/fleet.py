"""A fleet of worker processes calling one chain while its primary is down: local or Redis health.

Each worker (half on the sync driver, half on the async one) calls a two-hop
chain - primary, backup, both real openai clients on the fault server - in a
loop. The primary is down (503) for ``outage`` seconds from the moment every
worker is ready, then healthy. What a run measures:

- the primary's failed attempts during the outage, fleet-wide: with shared
  health at most the threshold, plus what was already in flight when the
  circuit opened (one per other worker), plus one probe per cooldown;
- whether every call was served, and when each worker was back on the primary;
- the time each call spent consulting health (its added latency): median, p99.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fallback_core import Breaker, Chain, Continuation, Delta, Health, Hop, LocalStore
from fallback_core.testing import Fault, FaultServer

REQUEST = {"messages": [{"role": "user", "content": "Why do fleets share health?"}]}


@dataclass(frozen=True, slots=True)
class Call:
    """One call a worker made: when it started and ended (wall clock), who served it, and
    health's share of its time."""

    started: float
    ended: float
    served_by: str | None
    consulting: float


@dataclass(frozen=True, slots=True)
class FleetRun:
    """What one fleet run did."""

    health: str
    workers: int
    threshold: int
    cooldown: float
    outage_start: float
    recovered_at: float
    primary_failures: int
    calls: tuple[tuple[Call, ...], ...]  # per worker

    @property
    def probes_allowed(self) -> int:
        """Probes one cooldown apart that fit in the outage."""
        return int((self.recovered_at - self.outage_start) // self.cooldown) + 1

    @property
    def served(self) -> int:
        return sum(call.served_by is not None for worker in self.calls for call in worker)

    @property
    def total(self) -> int:
        return sum(len(worker) for worker in self.calls)

    def back_on_primary(self) -> list[float | None]:
        """Per worker: seconds after recovery from which every call it made was on the primary."""
        backs: list[float | None] = []
        for worker in self.calls:
            after = [c for c in worker if c.started >= self.recovered_at]
            off = [c.started for c in after if c.served_by != "primary"]
            on = [
                c.started
                for c in after
                if c.served_by == "primary" and (not off or c.started > max(off))
            ]
            backs.append(min(on) - self.recovered_at if on else None)
        return backs

    def first_back(self) -> float | None:
        """When the first call that the primary served after the outage began ended: from then
        on, the fleet's shared health knows the primary is back."""
        ends = [
            c.ended
            for worker in self.calls
            for c in worker
            if c.started >= self.outage_start and c.served_by == "primary"
        ]
        return min(ends, default=None)

    def off_primary_after(self, moment: float) -> list[Call]:
        """The calls started after `moment` that the primary did not serve."""
        return [
            c
            for worker in self.calls
            for c in worker
            if c.started > moment and c.served_by != "primary"
        ]

    def consulting_ms(self) -> tuple[float, float]:
        """Median and p99 of the time a call spent consulting health, in milliseconds."""
        spent = sorted(c.consulting * 1000 for worker in self.calls for c in worker)
        p99 = spent[min(len(spent) - 1, int(len(spent) * 0.99))]
        return statistics.median(spent), p99


def run_fleet(
    server: FaultServer,
    redis_url: str | None,
    *,
    workers: int = 4,
    threshold: int = 3,
    cooldown: float = 1.0,
    outage: float = 3.0,
    settle: float = 1.0,
    timeout: float = 0.05,
) -> FleetRun:
    """Run the fleet against ``server``'s "primary" and "backup"; Redis health if ``redis_url``."""
    ctx = multiprocessing.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    go, stop = ctx.Event(), ctx.Event()
    prefix = f"fleet-{uuid.uuid4().hex[:8]}"
    settings = (server.base_url, redis_url, prefix, threshold, cooldown, timeout)
    procs = [
        ctx.Process(target=_worker, args=(i, settings, ready, go, stop, out), daemon=True)
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=120)
        server.set_fault("primary", Fault.flapping(outage))
        start = time.time()
        go.set()
        time.sleep(outage + cooldown + settle)
        stop.set()
        results = dict(out.get(timeout=60) for _ in procs)
    finally:
        stop.set()
        go.set()
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
        server.set_fault("primary", None)
    recovered = start + outage
    failures = [
        a for a in server.attempts("primary") if a.started_wall >= start and a.status == 503
    ]
    return FleetRun(
        health="redis" if redis_url else "local",
        workers=workers,
        threshold=threshold,
        cooldown=cooldown,
        outage_start=start,
        recovered_at=recovered,
        primary_failures=len(failures),
        calls=tuple(tuple(results[i]) for i in range(workers)),
    )


class _Target:
    """One model on the fault server, streamed with openai's own clients."""

    def __init__(self, base_url: str, model: str) -> None:
        import openai

        self.model = model
        options: dict[str, Any] = {"base_url": base_url, "api_key": "test", "max_retries": 0}
        self.client = openai.OpenAI(timeout=10, **options)
        self.aclient = openai.AsyncOpenAI(timeout=10, **options)

    def stream(self, request: Any, continuation: Continuation | None) -> Iterator[Delta]:
        chunks = self.client.chat.completions.create(model=self.model, stream=True, **request)
        for chunk in chunks:
            yield _delta(chunk)

    async def astream(
        self, request: Any, continuation: Continuation | None
    ) -> AsyncIterator[Delta]:
        chunks = await self.aclient.chat.completions.create(
            model=self.model, stream=True, **request
        )
        async for chunk in chunks:
            yield _delta(chunk)


def _delta(chunk: Any) -> Delta:
    choice = chunk.choices[0] if chunk.choices else None
    if choice is None:
        return Delta()
    return Delta(text=choice.delta.content or "", finish_reason=choice.finish_reason)


class _Timed:
    """A store that notes how long each consultation took: the latency health adds."""

    def __init__(self, store: Any) -> None:
        self.store, self.spent = store, 0.0

    def attach(self, health: Health) -> None:
        self.store.attach(health)

    def consult(self, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return self.store.consult(*args, **kwargs)
        finally:
            self.spent += time.perf_counter() - began

    async def aconsult(self, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return await self.store.aconsult(*args, **kwargs)
        finally:
            self.spent += time.perf_counter() - began

    def circuits(self) -> Any:
        return self.store.circuits()


def _worker(
    index: int,
    settings: tuple[str, str | None, str, int, float, float],
    ready: Any,
    go: Any,
    stop: Any,
    out: Any,
) -> None:
    base_url, redis_url, prefix, threshold, cooldown, timeout = settings
    if redis_url is None:
        store: Any = LocalStore()
    else:
        from fallback_core.redis import RedisStore

        store = RedisStore(redis_url, prefix=prefix, timeout=timeout)
    timed = _Timed(store)
    health = Health(Breaker(failure_threshold=threshold, cooldown=cooldown), store=timed)
    hops = [
        Hop(_Target(base_url, "primary"), name="primary", max_attempts=1),
        Hop(_Target(base_url, "backup"), name="backup"),
    ]
    chain: Chain[Any] = Chain(hops, health=health)
    if index % 2 == 0:
        calls = _sync_calls(chain, timed, ready, index, go, stop)
    else:
        calls = asyncio.run(_async_calls(chain, timed, ready, index, go, stop))
    out.put((index, calls))


def _sync_calls(
    chain: Chain[Any], timed: _Timed, ready: Any, index: int, go: Any, stop: Any
) -> list[Call]:
    "".join(d.text for d in chain.stream(REQUEST))  # warm up: imports, connections, the script
    ready.put(index)
    go.wait()
    calls = []
    while not stop.is_set():
        started, timed.spent = time.time(), 0.0
        stream = chain.stream(REQUEST)
        try:
            "".join(d.text for d in stream)
            served = stream.trace.served_by
        except Exception:
            served = None
        calls.append(Call(started, time.time(), served, timed.spent))
    return calls


async def _async_calls(
    chain: Chain[Any], timed: _Timed, ready: Any, index: int, go: Any, stop: Any
) -> list[Call]:
    "".join([d.text async for d in chain.astream(REQUEST)])  # warm up, on this loop
    ready.put(index)
    await asyncio.to_thread(go.wait)
    calls = []
    while not stop.is_set():
        started, timed.spent = time.time(), 0.0
        stream = chain.astream(REQUEST)
        try:
            "".join([d.text async for d in stream])
            served = stream.trace.served_by
        except Exception:
            served = None
        calls.append(Call(started, time.time(), served, timed.spent))
    return calls


class _Instant:
    """A hop that answers at once from memory: what is left of a call is health's share."""

    def stream(self, request: Any, continuation: Continuation | None) -> Iterator[Delta]:
        yield Delta(text="ok", finish_reason="stop")

    async def astream(
        self, request: Any, continuation: Continuation | None
    ) -> AsyncIterator[Delta]:
        yield Delta(text="ok", finish_reason="stop")


def consult_latency(redis_url: str, calls: int = 2000) -> list[dict[str, Any]]:
    """Health's added latency per call in one process, calls in a row: local vs Redis, both drivers.

    No fleet competes for the CPU here, so this is the loopback round trip's cost.
    """
    from fallback_core.redis import RedisStore

    rows = []
    for name in ("local", "redis"):
        for driver in ("sync", "async"):
            store: Any = LocalStore() if name == "local" else RedisStore(redis_url)
            timed = _Timed(store)
            chain: Chain[Any] = Chain(
                [Hop(_Instant(), name="primary"), Hop(_Instant(), name="backup")],
                health=Health(store=timed),
            )
            spent = _time_calls(chain, timed, driver, calls)
            if name == "redis":
                store.close()
            spent.sort()
            rows.append(
                {
                    "health": name,
                    "driver": driver,
                    "calls": calls,
                    "added_latency_ms_median": round(statistics.median(spent) * 1000, 3),
                    "added_latency_ms_p99": round(spent[int(len(spent) * 0.99)] * 1000, 3),
                }
            )
    return rows


def _time_calls(chain: Chain[Any], timed: _Timed, driver: str, calls: int) -> list[float]:
    spent = []
    if driver == "sync":
        for _ in range(calls):
            timed.spent = 0.0
            "".join(d.text for d in chain.stream(REQUEST))
            spent.append(timed.spent)
        return spent

    async def run() -> None:
        for _ in range(calls):
            timed.spent = 0.0
            "".join([d.text async for d in chain.astream(REQUEST)])
            spent.append(timed.spent)

    asyncio.run(run())
    return spent


def describe(runs: Sequence[FleetRun]) -> list[dict[str, Any]]:
    """One row per run, for the results file and README."""
    rows = []
    for run in runs:
        median, p99 = run.consulting_ms()
        backs = [b for b in run.back_on_primary() if b is not None]
        rows.append(
            {
                "health": run.health,
                "workers": run.workers,
                "primary_attempts_during_outage": run.primary_failures,
                "bound_with_shared_health": run.threshold + run.workers - 1 + run.probes_allowed,
                "requests_served": f"{run.served}/{run.total}",
                "back_on_primary_s_max": round(max(backs), 3) if backs else None,
                "added_latency_ms_median": round(median, 3),
                "added_latency_ms_p99": round(p99, 3),
            }
        )
    return rows
