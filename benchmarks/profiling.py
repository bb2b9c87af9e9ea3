"""Where the healthy path's time and memory go: ``python -m benchmarks --profile``.

CPU: each path (framework, call, entrant) makes ``requests`` calls at zero
latency under cProfile, timed by each thread's own CPU clock (so waiting is
not counted, and a sync stream's worker thread - started while profiling -
is profiled on its own and merged in). Per path, ``profile-<path>.txt`` holds
the CPU per chunk under the profiler, a breakdown by bucket (package, or our
module; a built-in's time goes to its callers' buckets in proportion to their
calls) and the top functions by own and cumulative time.
``profile-summary.md`` sets every path's buckets side by side, in
microseconds per chunk; `profile-summary.json` holds the same.

Memory: ``streams`` concurrent async streams on a paced server, and tracemalloc
snapshots taken the moment every stream has had `EARLY` chunks and `LATE`
chunks, bare against ours; ``profile-memory.txt`` gives, per stream, what each
bucket holds, what was allocated under each frame of our code (the innermost one
of the allocation's traceback: which of our lines made the framework or SDK
allocate it), and the largest allocation sites. The growth from the early to the
late snapshot is what a stream keeps per chunk.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import pstats
import re
import threading
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .entrants import CALLS, SHORT, Call, Entrant, entrants
from .healthy import TOKENS, one_call
from .scenarios import MODELS, TOKEN_DELAY
from .server import RemoteFaultServer
from .systems import HttpClients

__all__ = ["run_profiles"]

SYSTEMS = ("bare", "ours", "ours_limits")
TOP = 35
EARLY, LATE = 20, 45
"""Chunks into its answer each stream has had at the two memory snapshots."""
FRAMES = 25
"""Frames tracemalloc keeps per allocation: enough to reach our code from an SDK's depths."""
_MACHINERY = (
    r"fallback_core/|langchain_fallback/|llamaindex_fallback/|langchain_core/(callbacks|tracers|"
    r"messages|outputs|load|language_models)|llama_index/core/(llms|base)|llama_index_instrumentation"
)

# Function key in pstats: (filename, line, name).
Func = tuple[str, int, str]


class _ThreadedProfile:
    """cProfile for the calling thread and every thread started while it runs."""

    def __init__(self) -> None:
        self.main = cProfile.Profile(time.thread_time)
        self.finished: list[cProfile.Profile] = []
        self.unfinished = 0
        self._lock = threading.Lock()

    @contextmanager
    def running(self) -> Iterator[None]:
        original = threading.Thread.run
        owner = self

        def run(thread: threading.Thread) -> None:
            profile = cProfile.Profile(time.thread_time)
            with owner._lock:
                owner.unfinished += 1
            profile.enable()
            try:
                original(thread)
            finally:
                profile.disable()
                with owner._lock:
                    owner.unfinished -= 1
                    owner.finished.append(profile)

        threading.Thread.run = run  # type: ignore[method-assign]
        self.main.enable()
        try:
            yield
        finally:
            self.main.disable()
            threading.Thread.run = original  # type: ignore[method-assign]

    def stats(self) -> pstats.Stats:
        stats = pstats.Stats(self.main, stream=io.StringIO())
        with self._lock:
            for profile in self.finished:
                stats.add(profile)
        return stats


_SITE = re.compile(r"site-packages/([^/]+)(?:/([^/]+))?")
_OURS = re.compile(r"/(fallback_core|langchain_fallback|llamaindex_fallback)/(.+)$")
_STDLIB = re.compile(r"/lib/python3\.\d+/(.+)$")
_FINE = {"langchain_core", "llama_index", "openai", "httpx", "httpcore", "pydantic"}


def bucket(filename: str, name: str) -> str:
    """The bucket a function's own time counts in: our module, a package, or a stdlib module."""
    if "contextvars" in name or name.endswith("copy_context>"):
        return "contextvars (copy, run)"
    if name == "<built-in method builtins.isinstance>":
        return "isinstance"
    if ours := _OURS.search(filename):
        return f"{ours[1]}/{ours[2]}"
    if site := _SITE.search(filename):
        top, sub = site[1], site[2]
        if top in _FINE and sub and not sub.endswith(".py"):
            return f"{top}/{sub}"
        return top
    if std := _STDLIB.search(filename):
        path = std[1]
        return path.split("/")[0].removesuffix(".py")
    return "other"


def _is_builtin(func: Func) -> bool:
    return func[0] == "~"


def by_bucket(stats: pstats.Stats) -> dict[str, float]:
    """Seconds of own time per bucket; a built-in's goes to its callers' buckets, by calls."""
    raw: Any = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = defaultdict(float)
    for func, (_cc, _nc, tt, _ct, callers) in raw.items():
        named = bucket(func[0], func[2])
        if not _is_builtin(func) or named in ("contextvars (copy, run)", "isinstance"):
            totals[named] += tt
            continue
        calls = sum(c[0] for c in callers.values()) or 1
        if not callers:
            totals["built-ins (no caller)"] += tt
        for caller, figures in callers.items():
            owner = bucket(caller[0], caller[2]) if not _is_builtin(caller) else "built-ins"
            totals[owner] += tt * figures[0] / calls
    return dict(totals)


@dataclass
class PathProfile:
    """One path's profile, reduced to what the summary needs."""

    framework: str
    call: str
    system: str
    requests: int
    cpu_per_chunk_us: float
    buckets_us: dict[str, float] = field(default_factory=dict)
    threads: int = 0

    @property
    def key(self) -> str:
        return f"{self.framework.lower()}-{self.call}-{self.system}"


async def _profile_path(entrant: Entrant, call: Call, requests: int, out: Path) -> PathProfile:
    for _ in range(3):
        await one_call(entrant, call)
    profile = _ThreadedProfile()
    with profile.running():
        for _ in range(requests):
            await one_call(entrant, call)
    stats = profile.stats()
    chunks = requests * TOKENS
    total: float = stats.total_tt  # type: ignore[attr-defined]
    buckets = {k: 1e6 * v / chunks for k, v in by_bucket(stats).items()}
    result = PathProfile(
        call.framework,
        call.name,
        entrant.key,
        requests,
        1e6 * total / chunks,
        dict(sorted(buckets.items(), key=lambda kv: -kv[1])),
        len(profile.finished),
    )
    text = io.StringIO()
    text.write(
        f"{call.framework} {call.name}, {SHORT[entrant.key]}: {requests} calls at zero latency, "
        f"{TOKENS} chunks each; CPU time under the profiler (each thread's own clock): "
        f"{result.cpu_per_chunk_us:.0f} us per chunk; threads profiled: {result.threads}"
        f" (still running at the end, not counted: {profile.unfinished})\n\n"
        "By bucket, us per chunk (a built-in's own time goes to its callers' buckets):\n"
    )
    for name, us in result.buckets_us.items():
        if us >= 0.5:
            text.write(f"  {us:8.1f}  {name}\n")
    stats.stream = text  # type: ignore[attr-defined]
    for order in ("tottime", "cumulative"):
        text.write(f"\n\nTop {TOP} by {order}:\n")
        stats.sort_stats(order).print_stats(TOP)
    text.write(f"\n\nOur functions and the frameworks' run machinery, top {TOP} cumulative:\n")
    stats.sort_stats("cumulative").print_stats(_MACHINERY, TOP)
    _save(out, f"profile-{result.key}.txt", text.getvalue())
    return result


def _summary(profiles: Sequence[PathProfile]) -> str:
    lines = [
        "# Profile summary",
        "",
        "CPU time per chunk under cProfile (each thread's own clock, so the profiler's "
        "overhead inflates every figure; compare columns, not absolute numbers), by bucket. "
        "Generated by `python -m benchmarks --profile`; per-path detail in `profile-*.txt`.",
    ]
    paths = sorted({(p.framework, p.call) for p in profiles}, key=_call_order)
    for framework, name in paths:
        row = {p.system: p for p in profiles if (p.framework, p.call) == (framework, name)}
        systems = [s for s in SYSTEMS if s in row]
        names = sorted(
            {b for p in row.values() for b in p.buckets_us},
            key=lambda b: -max(p.buckets_us.get(b, 0.0) for p in row.values()),
        )
        lines += [
            "",
            f"## {framework} `{name}`",
            "",
            "| bucket | " + " | ".join(SHORT[s] for s in systems) + " |",
            "|---|" + "---|" * len(systems),
            "| **total** | "
            + " | ".join(f"**{row[s].cpu_per_chunk_us:.0f}**" for s in systems)
            + " |",
        ]
        for b in names:
            values = [row[s].buckets_us.get(b, 0.0) for s in systems]
            if max(values) >= 2.0:
                lines.append(f"| {b} | " + " | ".join(f"{v:.1f}" for v in values) + " |")
    return "\n".join(lines) + "\n"


def _call_order(path: tuple[str, str]) -> int:
    return next(i for i, c in enumerate(CALLS) if (c.framework, c.name) == path)


# Memory


class _Barrier:
    """Takes a tracemalloc snapshot the moment `streams` streams have each had n chunks."""

    def __init__(self, streams: int, points: Sequence[int]) -> None:
        self.waiting = dict.fromkeys(points, streams)
        self.snapshots: dict[int, tracemalloc.Snapshot] = {}

    def reached(self, chunks: int) -> None:
        if chunks in self.waiting:
            self.waiting[chunks] -= 1
            if self.waiting[chunks] == 0:
                self.snapshots[chunks] = tracemalloc.take_snapshot()


async def _stream(entrant: Entrant, barrier: _Barrier) -> None:
    count = 0
    async for _ in entrant.calls["pieces"]():
        count += 1
        barrier.reached(count)


async def _memory(base_url: str, streams: int, out_lines: list[str]) -> None:
    http = HttpClients(connections=streams + 20)
    try:
        everyone = [e for e in entrants(base_url, http, ("bare", "ours")) if "pieces" in e.calls]
        for entrant in everyone:
            barrier = _Barrier(streams, (EARLY, LATE))
            tracemalloc.start(FRAMES)
            try:
                base = tracemalloc.take_snapshot()
                await asyncio.gather(*(_stream(entrant, barrier) for _ in range(streams)))
            finally:
                tracemalloc.stop()
            for chunks, snapshot in sorted(barrier.snapshots.items()):
                _write_memory(entrant, streams, chunks, base, snapshot, out_lines)
    finally:
        await http.aclose()


def ours_under(traceback: tracemalloc.Traceback) -> str:
    """The innermost frame of our code in an allocation's traceback, as ``module.py:line``."""
    for frame in reversed(traceback):  # tracemalloc keeps the oldest frame first
        if ours := _OURS.search(frame.filename):
            return f"{ours[1]}/{ours[2]}:{frame.lineno}"
    return "(no frame of ours)"


def _write_memory(
    entrant: Entrant,
    streams: int,
    chunks: int,
    base: tracemalloc.Snapshot,
    snapshot: tracemalloc.Snapshot,
    lines: list[str],
) -> None:
    diff = snapshot.compare_to(base, "traceback")
    buckets: dict[str, int] = defaultdict(int)
    under: dict[str, int] = defaultdict(int)
    for stat in diff:
        name = stat.traceback[-1].filename if stat.traceback else "other"
        buckets[bucket(name, "")] += stat.size_diff
        under[ours_under(stat.traceback)] += stat.size_diff
    total = sum(buckets.values())
    lines += [
        "",
        f"== {entrant.framework}, {SHORT[entrant.key]}: {streams} async streams, each {chunks} "
        f"chunks into its answer: {total / 1024 / streams:.1f} KiB per stream above the start",
        "",
        "By bucket of the allocating file, KiB per stream:",
    ]
    for name, size in sorted(buckets.items(), key=lambda kv: -kv[1]):
        if abs(size) / 1024 / streams >= 0.5:
            lines.append(f"  {size / 1024 / streams:8.1f}  {name}")
    lines += ["", "By the innermost frame of our code it was allocated under, KiB per stream:"]
    for name, size in sorted(under.items(), key=lambda kv: -kv[1]):
        if abs(size) / 1024 / streams >= 0.5:
            lines.append(f"  {size / 1024 / streams:8.1f}  {name}")
    lines += ["", "Largest allocation sites (size per stream, allocations per stream):"]
    for stat in snapshot.compare_to(base, "lineno")[:25]:
        frame = stat.traceback[-1]
        lines.append(
            f"  {stat.size_diff / 1024 / streams:8.1f} KiB {stat.count_diff / streams:7.1f}  "
            f"{frame.filename}:{frame.lineno}"
        )


def _save(directory: Path, name: str, text: str) -> Path:
    """Write `text` to `directory`/`name` (only create `directory` when `name` is empty)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if name:
        path.write_text(text, encoding="utf-8")
    return path


def _run_cost(base_url: str, rounds: int) -> list[str]:
    """CPU per chunk of a ChatOpenAI streamed as a LangChain run, and of its bare `_stream`.

    The difference is what a hop pays for being a run of its own (callback
    managers, the run's chunk list, tracing checks) - the most a hop called
    outside LangChain's run machinery could save.
    """
    from langchain_core.messages import HumanMessage

    from .scenarios import PRIMARY, QUESTION
    from .systems import chat_openai

    http = HttpClients()
    model = chat_openai(base_url, PRIMARY, http)
    messages = [HumanMessage(QUESTION)]

    def as_run() -> int:
        return sum(1 for _ in model.stream(messages))

    def raw() -> int:
        return sum(1 for _ in model._stream(messages))

    cpu = {"as_run": 0.0, "raw": 0.0}
    try:
        for i in range(rounds + 3):
            for name, run in sorted({"as_run": as_run, "raw": raw}.items(), reverse=i % 2 == 1):
                started = time.process_time()
                run()
                if i >= 3:
                    cpu[name] += time.process_time() - started
    finally:
        http.sync.close()
    run_us, raw_us = (1e6 * cpu[k] / (rounds * TOKENS) for k in ("as_run", "raw"))
    return [
        "",
        f"== A hop as a LangChain run: ChatOpenAI.stream {run_us:.0f} us CPU per chunk, "
        f"its _stream alone {raw_us:.0f} us ({run_us - raw_us:+.0f} us, {rounds} calls each, "
        "zero latency, no profiler)",
    ]


async def run_profiles(out: Path, *, requests: int = 40, streams: int = 100) -> list[Path]:
    """Every path's CPU profile, the summary and the memory snapshots; the files written."""
    _save(out, "", "")
    profiles = []
    with RemoteFaultServer(MODELS, token_delay=0.0) as server:
        http = HttpClients()
        try:
            run_cost = _run_cost(server.base_url, requests)
            everyone = entrants(server.base_url, http, SYSTEMS)
            for call in CALLS:
                for entrant in everyone:
                    if entrant.supports(call):
                        p = await _profile_path(entrant, call, requests, out)
                        profiles.append(p)
                        print(
                            f"  {p.framework:<10} {p.call:<12} {p.system:<12} "
                            f"{p.cpu_per_chunk_us:6.0f} us/chunk profiled",
                            flush=True,
                        )
        finally:
            await http.aclose()
    summary = _save(out, "profile-summary.md", _summary(profiles))
    _save(
        out,
        "profile-summary.json",
        json.dumps([p.__dict__ | {"key": p.key} for p in profiles], indent=2) + "\n",
    )
    lines = [
        f"Memory of streams in flight: tracemalloc snapshots ({FRAMES} frames), taken the moment "
        f"every stream has had {EARLY} chunks and {LATE} chunks, against one taken before "
        "they started.",
        *run_cost,
    ]
    with RemoteFaultServer(MODELS, token_delay=TOKEN_DELAY) as paced:
        await _memory(paced.base_url, streams, lines)
    memory = _save(out, "profile-memory.txt", "\n".join(lines) + "\n")
    print("\n".join(lines[-60:]))
    return [summary, memory]
