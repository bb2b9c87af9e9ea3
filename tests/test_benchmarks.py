"""The benchmark harness runs, and judges what each system delivered correctly (no timings).

The quick run needs the ``bench`` extra (litellm, matplotlib), which ``make test``
does not install; without it that test is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.__main__ import main
from benchmarks.measure import compare, judge, seam_held
from benchmarks.scenarios import ANSWER


def test_compare_counts_characters_lost_and_added() -> None:
    """A cut answer loses its tail; a restarted one repeats what was already shown."""
    assert compare(ANSWER) == (0, 0)
    assert compare(ANSWER[:100]) == (len(ANSWER) - 100, 0)
    assert compare(ANSWER[:100] + ANSWER) == (0, 100)


@pytest.mark.parametrize(
    ("text", "error", "hung", "kind"),
    [
        (ANSWER, None, False, "complete"),
        (ANSWER[:50], None, False, "truncated"),
        (ANSWER[:50] + ANSWER, None, False, "truncated"),
        (ANSWER[:50], ConnectionResetError(), False, "error"),
        (ANSWER[:50], None, True, "hang"),
    ],
)
def test_outcome_is_judged_against_the_canonical_answer(
    text: str, error: BaseException | None, hung: bool, kind: str
) -> None:
    """Exact text is complete; a raise is an error; other quiet endings are truncated."""
    outcome = judge(text, error, hung, wall=1.0)
    assert outcome.kind == kind
    assert outcome.error == (type(error).__name__ if error else None)
    assert outcome.delivered == len(text)


def test_the_seam_hold_is_read_from_the_attempt_that_joined() -> None:
    """What the seam held comes from the continuing attempt that served; none without one."""
    trace = {
        "attempts": [
            {"continuation": None, "outcome": "failed", "seam_held": 0, "seam_held_for": 0.0},
            {"continuation": "instruct", "outcome": "failed", "seam_held": 0, "seam_held_for": 0},
            {"continuation": "instruct", "outcome": "ok", "seam_held": 86, "seam_held_for": 0.09},
        ]
    }
    assert seam_held(trace) == (86, 0.09)
    assert seam_held({"attempts": trace["attempts"][:1]}) is None
    assert seam_held(None) is None


# litellm's own types trip a pydantic warning when it is imported.
@pytest.mark.filterwarnings("ignore:Item .* is using the .ReadOnly. qualifier:UserWarning")
def test_quick_run_finishes_a_cut_stream_only_with_our_adapters(tmp_path: Path) -> None:
    """In a quick run, our adapters complete a stream cut mid-answer; the others raise."""
    pytest.importorskip("litellm")
    pytest.importorskip("matplotlib")
    scenarios = "healthy,cut,cut_restart,cut_reword"
    argv = ["--quick", "--parts", "matrix", "--scenarios", scenarios, "--out", str(tmp_path)]
    assert main(argv) == 0

    results = json.loads((tmp_path / "results.json").read_text())
    outcomes = {(c["scenario"], c["system"]): c for c in results["cells"]}
    systems = [s["key"] for s in results["systems"]]
    assert len(outcomes) == 4 * len(systems) == 20
    for system in systems:
        assert outcomes["healthy", system]["kind"] == "complete"
    for ours in ("fallback_chat_model", "fallback_llm"):
        cut = outcomes["cut", ours]
        assert (cut["kind"], cut["lost"], cut["extra"]) == ("complete", 0, 0)
        assert (cut["primary_attempts"], cut["backup_attempts"]) == (1, 1)
        restart, reword = outcomes["cut_restart", ours], outcomes["cut_reword", ours]
        assert (restart["kind"], restart["lost"], restart["extra"]) == ("complete", 0, 0)
        assert restart["seam_held"] > cut["seam_held"] > 0  # the replay was held, then dropped
        assert (reword["kind"], reword["error"]) == ("error", "ChainExhaustedError")
    for theirs in ("bare", "with_fallbacks", "litellm"):
        for scenario in ("cut", "cut_restart", "cut_reword"):
            cut = outcomes[scenario, theirs]
            assert cut["kind"] == "error"
            assert 0 < cut["delivered"] < len(ANSWER)
    report = (tmp_path / "results.md").read_text()
    assert "| stream cut mid-answer |" in report
    assert "## Held at the seam" in report
    assert (tmp_path / "results.png").stat().st_size > 0


def test_profile_buckets_name_our_modules_packages_and_the_stdlib() -> None:
    """A function's own time counts for our module, its package, or its stdlib module."""
    from benchmarks.profiling import bucket

    site = "/venv/lib/python3.11/site-packages"
    assert bucket("/repo/core/fallback_core/_walk.py", "walk") == "fallback_core/_walk.py"
    assert bucket("/repo/langchain_fallback/_target.py", "to_delta") == (
        "langchain_fallback/_target.py"
    )
    assert bucket(f"{site}/langchain_core/messages/ai.py", "f") == "langchain_core/messages"
    assert bucket(f"{site}/h11/_readers.py", "f") == "h11"
    assert bucket("/usr/lib/python3.11/asyncio/events.py", "f") == "asyncio"
    assert bucket("~", "<built-in method builtins.isinstance>") == "isinstance"


def _path(system: str, call: str, wall: float, cpu: float) -> Any:
    from benchmarks.healthy import PathResult

    return PathResult(
        framework="LangChain",
        call=call,
        token_delay=0.0,
        system=system,
        requests=4,
        wall_median=0.01,
        wall_p25=0.01,
        wall_p75=0.01,
        cpu_per_chunk_us=100.0,
        wall_ratio=wall,
        wall_ratio_p25=wall,
        wall_ratio_p75=wall,
        cpu_ratio=cpu,
        complete=4,
    )


def test_goals_table_judges_the_worst_of_our_paths() -> None:
    """A goal holds only if every one of our paths meets it; the worst path is named."""
    from benchmarks.healthy_report import goals_table

    paths = [
        _path("bare", "stream", 1.0, 1.0),
        _path("ours", "stream", 1.02, 1.04),
        _path("ours_limits", "stream", 1.03, 1.30),
        _path("bare", "invoke", 1.0, 1.0),
        _path("with_fallbacks", "invoke", 3.0, 3.0),
        _path("ours", "invoke", 1.05, 1.08),
    ]
    streamed, plain = goals_table(paths, [])[2:]
    assert "1.30x" in streamed
    assert "ours + limits" in streamed
    assert streamed.endswith("**no** |")
    assert "1.08x" in plain
    assert plain.endswith("| yes |")


def _load(system: str, median: float, chunks: int, cpu_us: float, kib: float) -> Any:
    """A load pass of `system`; the fields the goals and the table read are given."""
    import dataclasses

    from benchmarks.load import LoadResult

    given = {
        "system": system,
        "streams": 10,
        "faulted": 2,
        "healthy_median": median,
        "healthy_last": median,
        "chunks": chunks,
        "cpu_per_chunk_us": cpu_us,
        "cpu_per_received_chunk_us": cpu_us,
        "gc_share": 0.25,
        "rss_kib_per_stream": kib,
        "traced_kib_per_stream": kib,
    }
    rest = {f.name: 0 for f in dataclasses.fields(LoadResult) if f.name not in given}
    rest.pop("error_types")
    return LoadResult(**given, **rest)


def test_load_goal_names_the_work_each_system_was_given() -> None:
    """The load's wall goal shows how many more chunks ours delivered and its CPU per chunk."""
    from benchmarks.healthy_report import goals_table, load_table

    bare = _load("bare ChatOpenAI", 2.0, 400, 300.0, 100.0)
    ours = _load("FallbackChatModel", 3.0, 440, 450.0, 105.0)
    memory, wall = goals_table([], [bare, ours])[2:]
    assert memory.endswith("| yes |")
    assert "1.50x" in wall
    assert "chunks received 1.10x, CPU per chunk received 1.50x" in wall
    assert wall.endswith("**no** |")
    assert "| 440 | 450 / 450 us (25%) |" in load_table([ours])[-1]


def test_memory_is_charged_to_the_innermost_frame_of_ours() -> None:
    """An allocation deep in an SDK counts for the line of our code nearest to it."""
    import tracemalloc

    from benchmarks.profiling import ours_under

    site = "/venv/lib/python3.11/site-packages"
    # tracemalloc's raw order: the most recent frame first.
    traceback = tracemalloc.Traceback(
        (
            (f"{site}/pydantic/main.py", 280),
            (f"{site}/langchain_core/messages/ai.py", 200),
            ("/repo/langchain_fallback/_output.py", 62),
            ("/repo/core/fallback_core/_drive.py", 153),
            ("/repo/langchain_fallback/_calls.py", 114),
        )
    )
    assert ours_under(traceback) == "langchain_fallback/_output.py:62"
    assert ours_under(tracemalloc.Traceback(((f"{site}/h11/_util.py", 92),))) == (
        "(no frame of ours)"
    )
