"""Load: a thousand concurrent async streams, a fifth of them cut mid-answer, bare vs ours.

Every stream asks the same question. A fifth go through a primary whose
connection the fault server cuts mid-answer (``X-Fault: cut_after=N`` sent
as a default header of that primary, at a few different cut points); the
rest through a healthy primary. The bare ``ChatOpenAI`` meets the same load
(its cut streams end in an error); ``FallbackChatModel`` finishes them on the
backup. Each answer is checked character for character, and the healthy
streams' completion times compared: what the failovers cost the streams that
did not fail.

Each pass runs in a fresh process, so its memory is its own: memory per
stream in flight is the rise of the process's resident set (its peak, from
``VmHWM``, over ``VmRSS`` just before the streams start) over the most
streams in flight at once. A second, smaller pass of healthy streams under
tracemalloc gives the Python heap's share (tracemalloc slows every
allocation, so that pass is not timed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import statistics
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from .measure import compare
from .scenarios import ANSWER, BACKUP, PRIMARY, QUESTION, TOKENS
from .server import RemoteFaultServer
from .systems import HttpClients, LangChainClient, chat_openai, fallback_chat_model

__all__ = ["LoadResult", "as_dict", "measure_load"]

BARE, OURS = "bare ChatOpenAI", "FallbackChatModel"
CUT_POINTS = (5, 15, 25, 35, 45)
LOAD_STALL_LIMIT = 20.0
"""Seconds: our first_token_timeout and idle_timeout under load."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """One pass of `streams` concurrent streams through one system, in a process of its own."""

    system: str
    streams: int
    faulted: int
    complete: int
    errors: int
    wrong: int
    """Answers that came back without an error but differ from the canonical one."""
    chars_lost: int
    chars_extra: int
    primary_attempts: int
    backup_attempts: int
    peak_in_flight: int
    wall: float
    """Seconds from starting every stream to the end of the last."""
    healthy_median: float
    healthy_p90: float
    healthy_last: float
    """Seconds from the start to the end of the healthy streams: median, p90, the last."""
    cpu_per_chunk_us: float
    """The process's CPU over the chunks of every answer (`TOKENS` per stream)."""
    chunks: int
    """Chunks of text the callers received: a cut stream the bare model drops gets only its head,
    ours the whole answer - the work a healthy stream shares the event loop with."""
    cpu_per_received_chunk_us: float
    gc_share: float
    """The share of that CPU spent in the garbage collector (its pauses, timed by
    `gc.callbacks`): a full collection walks every live object, so what each stream
    keeps costs CPU as well as memory."""
    rss_kib_per_stream: float
    traced_streams: int
    traced_kib_per_stream: float
    """tracemalloc's peak above the start per stream in flight, healthy streams only."""
    error_types: tuple[str, ...] = ()


class _Gauge:
    """Streams in flight (now, and the most at once) and the chunks of text they received."""

    def __init__(self) -> None:
        self.now = self.peak = self.chunks = 0

    def __enter__(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        self.now -= 1


async def _one(client: LangChainClient, gauge: _Gauge, started: float) -> tuple[str, float]:
    pieces = []
    with gauge:
        async for piece in client.stream(QUESTION):
            pieces.append(piece)
            gauge.chunks += bool(piece)
    return "".join(pieces), time.perf_counter() - started


def _clients(base_url: str, http: HttpClients, ours: bool) -> tuple[LangChainClient, ...]:
    """Index 0 serves healthy streams; the others cut at each of `CUT_POINTS`."""
    primaries = [chat_openai(base_url, PRIMARY, http)] + [
        chat_openai(base_url, PRIMARY, http, default_headers={"X-Fault": f"cut_after={n}"})
        for n in CUT_POINTS
    ]
    if not ours:
        return tuple(LangChainClient(primary, http) for primary in primaries)
    backup = chat_openai(base_url, BACKUP, http)
    # No shared health here: every stream should meet its fault, not a skipped primary.
    # Stall limits as the README recommends: one 2-core client driving a thousand streams
    # takes seconds just to send them, and a first-token timer counts that time too.
    return tuple(
        LangChainClient(
            fallback_chat_model(
                primary,
                backup,
                health=None,
                deadline=None,
                first_token_timeout=LOAD_STALL_LIMIT,
                idle_timeout=LOAD_STALL_LIMIT,
            ),
            http,
        )
        for primary in primaries
    )


def _kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> None:
    """Make VmHWM start again from the current resident set (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        pass


def _plan(clients: tuple[LangChainClient, ...], streams: int, fault_share: float) -> list[Any]:
    every = round(1 / fault_share) if fault_share > 0 else 0
    return [
        clients[1 + (i // every) % len(CUT_POINTS)] if every and i % every == 0 else clients[0]
        for i in range(streams)
    ]


class _GcClock:
    """CPU seconds the garbage collector takes while it is installed (`gc.callbacks`)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started

    def __enter__(self) -> _GcClock:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


async def _gather(plan: list[Any], gauge: _Gauge) -> tuple[list[Any], float, float, float]:
    """Every stream of `plan` at once: the results, wall, CPU and garbage-collector seconds."""
    started = time.perf_counter()
    cpu = time.process_time()
    with _GcClock() as collector:
        results = await asyncio.gather(
            *(_one(client, gauge, started) for client in plan), return_exceptions=True
        )
    return (
        results,
        time.perf_counter() - started,
        time.process_time() - cpu,
        collector.seconds,
    )


async def _pass(
    base_url: str, system: str, streams: int, fault_share: float, traced_streams: int
) -> dict[str, Any]:
    """The child process's work: warm up, one timed pass, one traced pass of healthy streams."""
    http = HttpClients(connections=streams + 100)
    clients = _clients(base_url, http, system == OURS)
    try:
        for _ in range(3):
            await _one(clients[0], _Gauge(), 0.0)
        plan = _plan(clients, streams, fault_share)
        gauge = _Gauge()
        gc.collect()
        _reset_peak_rss()
        base_rss = _kib("VmRSS")
        results, wall, cpu, collecting = await _gather(plan, gauge)
        rss = (_kib("VmHWM") - base_rss) / max(gauge.peak, 1)

        traced = _Gauge()
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            await _gather([clients[0]] * traced_streams, traced)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        await http.aclose()
    healthy = [
        r[1]
        for r, client in zip(results, plan, strict=True)
        if client is clients[0] and isinstance(r, tuple)
    ]
    texts = [r[0] for r in results if isinstance(r, tuple)]
    errors = [r for r in results if not isinstance(r, tuple)]
    lost = extra = 0
    for text in texts:
        if text != ANSWER:
            a, b = compare(text)
            lost, extra = lost + a, extra + b
    return {
        "system": system,
        "streams": streams,
        "faulted": sum(client is not clients[0] for client in plan),
        "complete": sum(text == ANSWER for text in texts),
        "errors": len(errors),
        "wrong": sum(text != ANSWER for text in texts),
        "chars_lost": lost,
        "chars_extra": extra,
        "peak_in_flight": gauge.peak,
        "wall": wall,
        "healthy_median": statistics.median(healthy) if healthy else 0.0,
        "healthy_p90": statistics.quantiles(healthy, n=10)[-1] if len(healthy) > 1 else 0.0,
        "healthy_last": max(healthy, default=0.0),
        "cpu_per_chunk_us": 1e6 * cpu / (streams * TOKENS),
        "chunks": gauge.chunks,
        "cpu_per_received_chunk_us": 1e6 * cpu / max(gauge.chunks, 1),
        "gc_share": collecting / cpu if cpu else 0.0,
        "rss_kib_per_stream": rss,
        "traced_streams": traced_streams,
        "traced_kib_per_stream": (peak - base) / 1024 / max(traced.peak, 1),
        "error_types": tuple(sorted({type(e).__name__ for e in errors})),
    }


def _child(base_url: str, system: str, streams: int, fault_share: float, traced: int) -> Any:
    import benchmarks  # noqa: F401  (the environment settings, in this fresh process)

    return asyncio.run(_pass(base_url, system, streams, fault_share, traced))


async def _in_child(server: RemoteFaultServer, system: str, *args: Any) -> LoadResult:
    server.reset()
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        data = await asyncio.get_running_loop().run_in_executor(
            pool, _child, server.base_url, system, *args
        )
    attempts = server.attempts()
    return LoadResult(
        primary_attempts=sum(r.model == PRIMARY for r in attempts),
        backup_attempts=sum(r.model == BACKUP for r in attempts),
        **data,
    )


async def measure_load(
    server: RemoteFaultServer,
    *,
    streams: int = 1000,
    fault_share: float = 0.2,
    traced_streams: int = 100,
    progress: bool = True,
) -> list[LoadResult]:
    """The bare model's pass (the reference), then ours, each in a fresh process.

    The attempts counted include the traced pass's healthy streams.
    """
    results = []
    for system in (BARE, OURS):
        r = await _in_child(server, system, streams, fault_share, traced_streams)
        results.append(r)
        if progress:
            print(
                f"  {r.system:<18} {r.streams} streams ({r.faulted} cut): "
                f"{r.complete} complete, {r.errors} errors {r.error_types}, "
                f"{r.wrong} wrong (lost {r.chars_lost}, extra {r.chars_extra}); "
                f"attempts p={r.primary_attempts} b={r.backup_attempts}; wall {r.wall:.1f}s, "
                f"healthy median {r.healthy_median:.1f}s last {r.healthy_last:.1f}s; "
                f"{r.chunks} chunks received, cpu/chunk {r.cpu_per_chunk_us:.0f} us "
                f"(per received {r.cpu_per_received_chunk_us:.0f}, {r.gc_share:.0%} in gc); "
                f"{r.rss_kib_per_stream:.0f} KiB RSS and "
                f"{r.traced_kib_per_stream:.0f} KiB traced per stream",
                flush=True,
            )
    return results


def as_dict(result: LoadResult) -> dict[str, Any]:
    """A JSON-friendly form."""
    data = dataclasses.asdict(result)
    data["error_types"] = list(result.error_types)
    return data
