"""Load: a thousand concurrent async streams through `FallbackChatModel`, a fifth of them cut.

Every stream asks the same question. A fifth go through a primary whose
connection the fault server cuts mid-answer (``X-Fault: cut_after=N`` sent
as a default header of that primary, at a few different cut points); the
rest through a healthy primary. Each answer is checked character for
character. The same thousand streams, all healthy, through the bare
``ChatOpenAI`` are the reference. Memory is tracemalloc's peak above the
starting point divided by the streams in flight, from a traced pass
(tracemalloc slows every allocation); ours also gets an untraced pass for
its wall time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

from .measure import compare
from .scenarios import ANSWER, BACKUP, PRIMARY, QUESTION
from .server import RemoteFaultServer
from .systems import HttpClients, LangChainClient, chat_openai, fallback_chat_model

__all__ = ["LoadResult", "as_dict", "measure_load"]

BARE, OURS = "bare ChatOpenAI", "FallbackChatModel"
CUT_POINTS = (5, 15, 25, 35, 45)
LOAD_STALL_LIMIT = 20.0
"""Seconds: our first_token_timeout and idle_timeout under load."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """One pass of `streams` concurrent streams through one system."""

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
    wall: float | None
    """Seconds for the untraced pass (None: only a traced pass was run)."""
    peak_kib_per_stream: float
    traced_wall: float
    """Seconds for the traced pass (tracemalloc slows every allocation)."""
    traced_complete: int
    error_types: tuple[str, ...] = ()


class _Gauge:
    def __init__(self) -> None:
        self.now = self.peak = 0

    def __enter__(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        self.now -= 1


async def _one(client: LangChainClient, gauge: _Gauge) -> str:
    pieces = []
    with gauge:
        async for piece in client.stream(QUESTION):
            pieces.append(piece)
    return "".join(pieces)


def _clients(base_url: str, http: HttpClients, ours: bool) -> tuple[LangChainClient, ...]:
    """Index 0 serves healthy streams; the others cut at each of `CUT_POINTS` (ours only)."""
    if not ours:
        return (LangChainClient(chat_openai(base_url, PRIMARY, http), http),)
    backup = chat_openai(base_url, BACKUP, http)
    primaries = [chat_openai(base_url, PRIMARY, http)] + [
        chat_openai(base_url, PRIMARY, http, default_headers={"X-Fault": f"cut_after={n}"})
        for n in CUT_POINTS
    ]
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


async def _pass(
    server: RemoteFaultServer, system: str, streams: int, fault_share: float, traced: bool
) -> LoadResult:
    server.reset()
    http = HttpClients(connections=streams + 100)
    ours = system == OURS
    clients = _clients(server.base_url, http, ours)
    every = round(1 / fault_share) if ours and fault_share > 0 else 0
    plan = [
        clients[1 + (i // every) % len(CUT_POINTS)] if every and i % every == 0 else clients[0]
        for i in range(streams)
    ]
    faulted = sum(client is not clients[0] for client in plan)
    gauge = _Gauge()
    gc.collect()
    if traced:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0] if traced else 0
    started = time.perf_counter()
    try:
        results = await asyncio.gather(
            *(_one(client, gauge) for client in plan), return_exceptions=True
        )
        wall = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if traced else 0
    finally:
        if traced:
            tracemalloc.stop()
        await http.aclose()
    texts = [r for r in results if isinstance(r, str)]
    errors = [r for r in results if not isinstance(r, str)]
    lost = extra = 0
    for text in texts:
        if text != ANSWER:
            a, b = compare(text)
            lost, extra = lost + a, extra + b
    attempts = server.attempts()
    return LoadResult(
        system=system,
        streams=streams,
        faulted=faulted,
        complete=sum(text == ANSWER for text in texts),
        errors=len(errors),
        wrong=sum(text != ANSWER for text in texts),
        chars_lost=lost,
        chars_extra=extra,
        primary_attempts=sum(r.model == PRIMARY for r in attempts),
        backup_attempts=sum(r.model == BACKUP for r in attempts),
        peak_in_flight=gauge.peak,
        wall=wall,
        peak_kib_per_stream=(peak - base) / 1024 / max(gauge.peak, 1) if traced else 0.0,
        traced_wall=wall if traced else 0.0,
        traced_complete=sum(text == ANSWER for text in texts) if traced else 0,
        error_types=tuple(sorted({type(e).__name__ for e in errors})),
    )


async def measure_load(
    server: RemoteFaultServer,
    *,
    streams: int = 1000,
    fault_share: float = 0.2,
    progress: bool = True,
) -> list[LoadResult]:
    """The bare model's traced pass (the reference), then ours: a timed and a traced pass."""
    results = []
    bare = await _pass(server, BARE, streams, fault_share, traced=True)
    results.append(dataclasses.replace(bare, wall=None))
    timed = await _pass(server, OURS, streams, fault_share, traced=False)
    traced = await _pass(server, OURS, streams, fault_share, traced=True)
    results.append(
        dataclasses.replace(
            timed,
            traced_wall=traced.traced_wall,
            traced_complete=traced.complete,
            peak_kib_per_stream=traced.peak_kib_per_stream,
        )
    )
    if progress:
        for r in results:
            wall = "-" if r.wall is None else f"{r.wall:.1f}s"
            print(
                f"  {r.system:<18} {r.streams} streams ({r.faulted} cut): "
                f"{r.complete} complete, {r.errors} errors {r.error_types}, "
                f"{r.wrong} wrong (lost {r.chars_lost}, extra {r.chars_extra}); "
                f"attempts p={r.primary_attempts} b={r.backup_attempts}; wall {wall}, "
                f"traced {r.traced_wall:.1f}s ({r.traced_complete} complete); "
                f"{r.peak_kib_per_stream:.1f} KiB/stream",
                flush=True,
            )
    return results


def as_dict(result: LoadResult) -> dict[str, Any]:
    """A JSON-friendly form."""
    data = dataclasses.asdict(result)
    data["error_types"] = list(result.error_types)
    return data
