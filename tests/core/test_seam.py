"""The seam: a continuation joins the delivered text with no repeat and correct spacing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fallback_core import Chain, Hop
from fallback_core._seam import LOOKAHEAD, Seam, join

from .conftest import Drive, _drive_async, _drive_sync
from .scripted import Scripted, cut, ok


@pytest.mark.parametrize(
    ("delivered", "head", "expected", "overlap", "fix"),
    [
        ("The quick brown", " fox jumps", "The quick brown fox jumps", 0, None),
        ("The quick brown", "fox jumps", "The quick brown fox jumps", 0, "inserted-space"),
        ("The quick brown", "brown fox", "The quick brown fox", 5, None),
        ("The quick brown", " quick brown fox", "The quick brown fox", 12, None),
        ("The quick brown ", " fox", "The quick brown fox", 0, "collapsed-space"),
        ("over the fall", "the fallback chain", "over the fallback chain", 8, None),
        ("in the", "theater tonight", "in the theater tonight", 0, "inserted-space"),
        ("It ends.", "Then more", "It ends. Then more", 0, "inserted-space"),
        ("a list:\n", "- item", "a list:\n- item", 0, None),
        ("The end", "   of it", "The end of it", 0, "collapsed-space"),
        ("code:\n", "    x = 1", "code:\n    x = 1", 0, None),
        ("price: 10", "0 dollars", "price: 10 0 dollars", 0, "inserted-space"),
    ],
)
def test_join_trims_overlap_and_fixes_whitespace(
    delivered: str, head: str, expected: str, overlap: int, fix: str | None
) -> None:
    """Known seams join as a reader would expect."""
    out, result = join(delivered, head, final=True)
    assert delivered + out == expected
    assert (result.overlap, result.fix) == (overlap, fix)


def test_prefill_seam_never_inserts_a_space() -> None:
    """A prefill continuation resumes the model's own message, so a word-word join is kept."""
    out, result = join("The req", "uest", final=True, insert_space=False)
    assert out == "uest"
    assert result.fix is None


def test_text_that_really_repeats_across_the_cut_is_trimmed_as_a_repeat() -> None:
    """A documented limit: a continuation that genuinely repeats the delivered tail loses it."""
    out, result = join("A b a aa", " a aa and on", final=True)
    assert out == " and on"
    assert result.overlap == 5


def test_overlap_inside_a_word_is_not_trimmed() -> None:
    """A single word that merely starts like the delivered tail is not an overlap."""
    out, _ = join("I like the", "there and back", final=True)
    assert out == " there and back"


def test_seam_holds_back_only_a_bounded_lookahead() -> None:
    """While streaming, at most LOOKAHEAD characters wait at the seam, and only at its start."""
    seam = Seam("Once upon a time")
    words = [f" word{i}" for i in range(40)]
    received = emitted = 0
    for word in words:
        received += len(word)
        emitted += len(seam.feed(word))
        assert received - emitted <= LOOKAHEAD + len(word)
    assert not seam.open
    assert seam.feed(" tail") == " tail", "after the seam, text passes straight through"
    assert seam.flush() == ""


WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=9)


@st.composite
def broken_streams(draw: st.DrawFn) -> tuple[list[str], int, int, str, str]:
    """A canonical answer as word chunks, a cut point, the words the backup repeats, the seam."""
    words = draw(st.lists(WORD, min_size=2, max_size=40))
    words = [w for i, w in enumerate(words) if i == 0 or w != words[i - 1]]
    if len(words) < 2:
        words.append(words[0] + "x")
    words[0] = words[0].capitalize()
    chunks = [words[0]] + [" " + w for w in words[1:]]
    cut_at = draw(st.integers(min_value=1, max_value=len(chunks) - 1))
    assume(not repeats_across(words, cut_at))
    repeat = draw(st.integers(min_value=0, max_value=min(3, cut_at)))
    seam = draw(st.sampled_from(["kept", "dropped", "doubled"]))
    strategy = draw(st.sampled_from(["instruct", "prefill"]))
    if strategy == "prefill" and seam == "dropped" and repeat == 0:
        seam = "kept"  # a prefill resumes its own message; it does not drop the space
    return chunks, cut_at, repeat, seam, strategy


def repeats_across(words: list[str], cut_at: int) -> bool:
    """Whether the text after the cut starts by repeating words just before it ("a aa | a aa").

    Such a text is indistinguishable from a backup repeating the tail, so the
    seam trims it (a documented limit, pinned by its own test); the property
    holds for every other cut.
    """
    before, after = words[:cut_at], words[cut_at:]
    return any(before[-k:] == after[:k] for k in range(1, min(len(before), len(after)) + 1))


def backup_chunks(chunks: list[str], cut_at: int, repeat: int, seam: str) -> list[str]:
    """What a backup sends: the rest, after repeating `repeat` words, with the seam varied."""
    rest = chunks[cut_at - repeat :]
    first = rest[0].lstrip()
    lead = {"kept": " ", "dropped": "", "doubled": "  "}[seam]
    if repeat == cut_at:
        lead = lead if seam == "doubled" else ""  # repeating from the very first word
    return [lead + first, *rest[1:]]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=broken_streams(), use_async=st.booleans())
def test_stream_cut_anywhere_is_completed_exactly_once(
    case: tuple[list[str], int, int, str, str], use_async: bool
) -> None:
    """For any cut point, repeated overlap and seam spacing, the caller gets the answer exactly."""
    chunks, cut_at, repeat, seam, strategy = case
    primary = Scripted(cut(*chunks[:cut_at]), name="p")
    backup = Scripted(ok(*backup_chunks(chunks, cut_at, repeat, seam)), name="b")
    chain = Chain([Hop(primary, name="p"), Hop(backup, name="b", continuation=strategy)])  # type: ignore[arg-type]
    drive: Drive = _drive_async if use_async else _drive_sync
    run = drive(chain)
    assert run.error is None
    assert run.text == "".join(chunks)
    assert backup.calls[0].continuation is not None
    assert backup.calls[0].continuation.text == "".join(chunks[:cut_at])
