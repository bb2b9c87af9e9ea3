"""The healthy-path tables: every call side by side per pace, the load, and issue 15's goals."""

from __future__ import annotations

from collections.abc import Sequence

from .entrants import CALLS, LABELS, SHORT
from .healthy import TOKENS, PathResult
from .load import LoadResult

__all__ = ["goals_table", "healthy_section", "load_table"]

_ORDER = tuple(SHORT)
_OURS = ("ours", "ours_limits")


def _pace(token_delay: float) -> str:
    return f"{token_delay * 1000:g} ms per token" if token_delay else "zero latency"


def _cell(r: PathResult | None) -> str:
    if r is None:
        return "-"
    missing = "" if r.complete == r.requests else f" **{r.requests - r.complete} incomplete**"
    figures = f"{r.wall_median * 1000:.1f} ms, {r.cpu_per_chunk_us:.0f} us"
    if r.system == "bare":
        return figures + missing
    return f"**{r.wall_ratio:.2f}x** / **{r.cpu_ratio:.2f}x**<br>{figures}{missing}"


def pace_table(results: Sequence[PathResult], token_delay: float) -> list[str]:
    """Rows: framework and call; columns: entrants; cells: ratios to bare, wall and CPU."""
    rows = [r for r in results if r.token_delay == token_delay]
    systems = [key for key in _ORDER if any(r.system == key for r in rows)]
    by_key = {(r.framework, r.call, r.system): r for r in rows}
    lines = [
        "| framework | call | " + " | ".join(SHORT[s] for s in systems) + " |",
        "|---|---|" + "---|" * len(systems),
    ]
    for call in CALLS:
        if (call.framework, call.name, "bare") not in by_key:
            continue
        cells = [_cell(by_key.get((call.framework, call.name, s))) for s in systems]
        lines.append(f"| {call.framework} | `{call.name}` | " + " | ".join(cells) + " |")
    return lines


def healthy_section(results: Sequence[PathResult]) -> list[str]:
    """Every pace's table, with what the cells say."""
    if not results:
        return []
    requests = max(r.requests for r in results if r.token_delay == 0.0) if results else 0
    paced = [r.requests for r in results if r.token_delay]
    lines = [
        "## The healthy path, side by side",
        "",
        "Each framework's calls against a healthy server, every system in one run, "
        "round by round in a rotating order (so drift in the machine hits all alike): "
        f"{requests} rounds with no delay between tokens"
        + (f", {max(paced)} at a realistic pace" if paced else "")
        + f". Cells: the wall-time ratio to the bare model (median of the per-round "
        "ratios) / the CPU-time ratio (sums); then the median wall time and the client "
        f"process's CPU time per chunk of the answer ({TOKENS} chunks; the server runs in "
        "another process). A non-streamed call is counted over the same chunks.",
        "",
        *(f"- *{SHORT[key]}*: {LABELS[key]}" for key in _ORDER),
    ]
    for token_delay in sorted({r.token_delay for r in results}):
        lines += [
            "",
            f"### {_pace(token_delay).capitalize()}",
            "",
            *pace_table(results, token_delay),
        ]
    return lines


def load_table(results: Sequence[LoadResult]) -> list[str]:
    """One row per system: outcomes, the healthy streams' times, CPU and memory per stream."""
    lines = [
        "| system | streams (cut mid-answer) | complete | errors | wrong answers "
        "| attempts primary+backup | wall | healthy streams done: median / p90 / last "
        "| chunks received | CPU per chunk: of the answers / received (in gc) "
        "| memory per stream in flight: RSS | traced (healthy streams) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        errors = f"{r.errors}" + (f" ({', '.join(r.error_types)})" if r.error_types else "")
        lines.append(
            f"| {r.system} | {r.streams} ({r.faulted}) | {r.complete} | {errors} "
            f"| {r.wrong} (-{r.chars_lost}/+{r.chars_extra} chars) "
            f"| {r.primary_attempts}+{r.backup_attempts} | {r.wall:.1f} s "
            f"| {r.healthy_median:.1f} / {r.healthy_p90:.1f} / {r.healthy_last:.1f} s "
            f"| {r.chunks} | {r.cpu_per_chunk_us:.0f} / {r.cpu_per_received_chunk_us:.0f} us "
            f"({r.gc_share:.0%}) "
            f"| {r.rss_kib_per_stream:.0f} KiB "
            f"| {r.traced_kib_per_stream:.0f} KiB ({r.traced_streams} streams) |"
        )
    return lines


def _worst(
    results: Sequence[PathResult], streamed: bool, token_delay: float = 0.0
) -> tuple[float, str]:
    streamed_calls = {(c.framework, c.name) for c in CALLS if c.streamed}
    rows = [
        r
        for r in results
        if r.system in _OURS
        and r.token_delay == token_delay
        and ((r.framework, r.call) in streamed_calls) == streamed
    ]
    if not rows:
        return 0.0, "-"
    worst = max(rows, key=lambda r: max(r.wall_ratio, r.cpu_ratio))
    where = f"{worst.framework} `{worst.call}` ({SHORT[worst.system]})"
    return max(worst.wall_ratio, worst.cpu_ratio), where


def goals_table(paths: Sequence[PathResult], load: Sequence[LoadResult]) -> list[str]:
    """Issue 15's goals against this run: the worst of our paths for each."""
    lines = ["| goal | this run: worst of ours | holds |", "|---|---|---|"]

    def row(goal: str, value: float, where: str, bound: float) -> None:
        held = "yes" if value and value <= bound else "**no**"
        lines.append(f"| {goal} | {value:.2f}x, {where} | {held} |")

    if paths:
        row(
            "streamed calls, zero latency: wall and CPU <= 1.05x bare",
            *_worst(paths, streamed=True),
            1.05,
        )
        row(
            "non-streamed calls, zero latency: wall and CPU <= 1.10x bare",
            *_worst(paths, streamed=False),
            1.10,
        )
    bare = next((r for r in load if not r.system.startswith("Fallback")), None)
    ours = next((r for r in load if r.system.startswith("Fallback")), None)
    if bare is not None and ours is not None:
        rss = ours.rss_kib_per_stream / max(bare.rss_kib_per_stream, 1.0)
        traced = ours.traced_kib_per_stream / max(bare.traced_kib_per_stream, 1.0)
        row(
            "memory per stream in flight <= 1.1x bare",
            max(rss, traced),
            f"RSS {rss:.2f}x, traced {traced:.2f}x",
            1.1,
        )
        median = ours.healthy_median / max(bare.healthy_median, 1e-9)
        last = ours.healthy_last / max(bare.healthy_last, 1e-9)
        # The event loop is saturated, so every stream ends near the last: the healthy
        # streams' wall follows all the work, and ours also finishes the cut streams.
        work = ours.chunks / max(bare.chunks, 1)
        per_chunk = ours.cpu_per_received_chunk_us / max(bare.cpu_per_received_chunk_us, 1e-9)
        row(
            f"{ours.streams} async streams, {ours.faulted} cut: healthy streams' wall "
            "<= 1.1x bare's on the same load",
            max(median, last),
            f"median {median:.2f}x, last {last:.2f}x; chunks received {work:.2f}x, "
            f"CPU per chunk received {per_chunk:.2f}x",
            1.1,
        )
    return lines
