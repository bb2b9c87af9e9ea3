"""The seam on a corpus of realistic answers: no false alarm, every covered restart caught."""

from __future__ import annotations

from .seam_corpus import measure


def test_the_corpus_has_no_false_alarm_and_misses_no_covered_restart() -> None:
    """Genuine continuations join exactly; restarts reusing the opening raise (every 5th cut)."""
    tally = measure(stride=5)
    assert tally.wrong == []
    covered = ("genuine", "restart verbatim", "restart after a preface", "reworded, same opening")
    for kind in covered:
        assert tally.required[kind] > 100, kind
    assert tally.exact["genuine"] == tally.tried["genuine"]
    assert tally.raised["genuine"] == 0
    assert tally.raised["restart after a preface"] == tally.required["restart after a preface"]
