"""The seam: a continuation joins the delivered text with no repeat, no restart, correct spacing."""

from __future__ import annotations

import pytest

from fallback_core import Category, Chain, ChainExhaustedError, Hop, SeamError
from fallback_core._seam import OPENING_WORDS, SCAN_WORDS, WINDOW, Seam, join

from .conftest import Drive
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
        # A whole replay of the delivered text (a verbatim restart) is dropped.
        ("One two three four", "One two three four five", "One two three four five", 18, None),
        ("It ends. It was ver", "It was very late", "It ends. It was very late", 10, None),
        # Paragraph breaks: a blank line is never doubled across the seam, nor lost.
        ("One.\n\n", "\n\nTwo", "One.\n\nTwo", 0, "merged-newlines"),
        ("One.\n", "\nTwo", "One.\n\nTwo", 0, None),
        ("One.\n\n", "\nTwo", "One.\n\nTwo", 0, "merged-newlines"),
        ("One.\n\n", "Two", "One.\n\nTwo", 0, None),
        ("One. ", "\n\nTwo", "One. \n\nTwo", 0, None),
    ],
)
def test_join_trims_overlap_and_fixes_whitespace(
    delivered: str, head: str, expected: str, overlap: int, fix: str | None
) -> None:
    """Known seams join as a reader would expect."""
    out, result = join(delivered, head, final=True)
    assert delivered + out == expected
    assert (result.overlap, result.fix) == (overlap, fix)


@pytest.mark.parametrize(
    ("delivered", "head", "expected"),
    [
        ("One.\n\n", "\n\nTwo", "One.\n\nTwo"),  # the hop rewrote the whitespace it was not sent
        ("One.\n", "\n\nTwo", "One.\n\nTwo"),
        ("One.\n\n", "\nTwo", "One.\n\nTwo"),
        ("One.\n\n", " Two", "One.\n\nTwo"),  # its word space, not an indentation
        ("One.\n", "\n    code", "One.\n    code"),
        ("One two ", " three", "One two three"),
        ("One two ", "three", "One two three"),
    ],
)
def test_a_stripped_prefill_has_its_whitespace_reconciled(
    delivered: str, head: str, expected: str
) -> None:
    """A prefill is sent without trailing whitespace; what the hop writes again of it is dropped."""
    out, _ = join(delivered, head, final=True, insert_space=False, stripped=True)
    assert delivered + out == expected


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


def stream(seam: Seam, pieces: list[str]) -> tuple[str, list[int]]:
    """Feed ``pieces`` one by one, then flush; the text released and the backlog after each."""
    out, backlog, received = "", [], 0
    for piece in pieces:
        received += len(piece)
        out += seam.feed(piece)
        backlog.append(seam.held)
    return out + seam.flush(), backlog


DELIVERED = "Streams that break are continued. The backup picks up at the exact word"
REST = " where the primary stopped, and the caller reads one answer with nothing lost."


def words_of(text: str) -> list[str]:
    """``text`` as word tokens, each with its leading space."""
    first, *others = text.split(" ")
    return ([first] if first else []) + [" " + word for word in others]


def test_a_genuine_continuation_is_held_for_a_few_words_only() -> None:
    """A continuation that is no replay is released once its first words could not restart."""
    seam = Seam(DELIVERED)
    out, backlog = stream(seam, words_of(REST))
    assert out == REST
    assert max(backlog) <= WINDOW
    assert seam.result is not None
    assert seam.result.held <= len(" ".join(REST.split()[:16])) + 1


def test_a_verbatim_restart_is_dropped_holding_at_most_the_answer_and_a_window() -> None:
    """A backup that starts over verbatim has its replay dropped; the hold is bounded."""
    seam = Seam(DELIVERED)
    out, backlog = stream(seam, words_of(DELIVERED + REST))
    assert out == REST
    assert max(backlog) <= len(DELIVERED) + WINDOW
    assert seam.result is not None
    assert seam.result.overlap == len(DELIVERED)
    assert seam.feed(" tail") == " tail", "after the seam, text passes straight through"
    assert seam.flush() == ""


def test_a_replayed_last_sentence_is_dropped() -> None:
    """A backup that repeats the sentence it was cut in goes on from the cut."""
    seam = Seam(DELIVERED)
    out, _ = stream(seam, words_of("The backup picks up at the exact word" + REST))
    assert out == REST


@pytest.mark.parametrize(
    "restart",
    [
        "Streams that break are picked up again by the next model in the chain.",
        "Sure! Streams that break are continued by the backup.",
        "Here is the answer again:\n\nStreams that break are continued, and so on.",
        "**Streams that break** are continued.",
    ],
)
def test_a_restart_in_other_words_is_a_seam_error(restart: str) -> None:
    """A backup starting the answer over, worded differently, fails the seam; nothing leaks."""
    seam = Seam(DELIVERED)
    pieces = words_of(" " + restart)
    released = "".join(seam.feed(piece) for piece in pieces[:-1])
    with pytest.raises(SeamError) as caught:
        released += seam.feed(pieces[-1]) + seam.flush()
    assert released == ""
    assert caught.value.reason == "restart"


def test_an_opening_needs_three_delivered_words() -> None:
    """With fewer than three words delivered, no continuation is taken for a restart."""
    seam = Seam("Streams that")
    assert seam.feed(" break. Streams that break are continued.") == (
        " break. Streams that break are continued."
    )
    assert seam.flush() == ""


def test_the_constants_bound_the_scan() -> None:
    """The documented bound: fifteen words of new text at most, never past the window."""
    assert (OPENING_WORDS, SCAN_WORDS, WINDOW) == (3, 12, 160)


def test_a_restarting_backup_never_reaches_the_caller(drive: Drive) -> None:
    """A reworded restart fails the hop; the next one finishes the answer exactly."""
    words = words_of(DELIVERED + REST)
    primary = Scripted(cut(*words[:6]), name="p")
    rewording = Scripted(ok(*words_of(" Sure! " + DELIVERED + " indeed.")), name="r")
    third = Scripted(ok(*words[6:]), name="t")
    chain = Chain([Hop(primary, name="p"), Hop(rewording, name="r"), Hop(third, name="t")])  # type: ignore[arg-type]
    run = drive(chain)
    assert run.error is None
    assert run.text == DELIVERED + REST
    failed = run.trace.attempts[1]
    assert (failed.hop, failed.category, failed.chars) == ("r", Category.SEAM, 0)


def test_an_empty_continuation_is_a_failed_attempt(drive: Drive) -> None:
    """A continuation that finishes without adding a word does not finish the answer."""
    words = words_of(DELIVERED + REST)
    primary = Scripted(cut(*words[:6]), name="p")
    silent = Scripted(ok(" ", ""), name="s")
    chain = Chain([Hop(primary, name="p"), Hop(silent, name="s")])  # type: ignore[arg-type]
    run = drive(chain)
    assert isinstance(run.error, ChainExhaustedError)
    assert run.error.partial_text == "".join(words[:6]) == run.text
    assert isinstance(run.error.attempts[-1].error, SeamError)
    assert run.error.attempts[-1].error.reason == "empty"


def test_a_prefill_that_restarts_is_asked_again_with_the_instruction(drive: Drive) -> None:
    """A hop that answers a prefill with a new answer gets the instruct strategy next."""
    words = words_of(DELIVERED + REST)
    primary = Scripted(cut(*words[:6]), name="p")
    backup = Scripted(ok(*words_of(" Sure! " + DELIVERED)), ok(*words[6:]), name="b")
    chain = Chain([Hop(primary, name="p"), Hop(backup, name="b", continuation="prefill")])  # type: ignore[arg-type]
    run = drive(chain)
    assert run.text == DELIVERED + REST
    assert [c.continuation.strategy for c in backup.calls if c.continuation] == [
        "prefill",
        "instruct",
    ]


def test_a_prefill_is_sent_without_trailing_whitespace(drive: Drive) -> None:
    """The prefill message drops trailing whitespace; what the hop writes again is not doubled."""
    primary = Scripted(cut("First paragraph.", "\n\n"), name="p")
    backup = Scripted(ok("\n\n", "Second", " paragraph."), name="b")
    chain = Chain([Hop(primary, name="p"), Hop(backup, name="b", continuation="prefill")])  # type: ignore[arg-type]
    run = drive(chain)
    assert run.text == "First paragraph.\n\nSecond paragraph."
    cont = backup.calls[0].continuation
    assert cont is not None
    assert (cont.text, cont.message) == ("First paragraph.\n\n", "First paragraph.")


def test_delivered_whitespace_alone_is_not_continued(drive: Drive) -> None:
    """A primary cut after sending only whitespace: the next hop answers afresh after it."""
    primary = Scripted(cut("\n\n"), name="p")
    backup = Scripted(ok("Fresh", " answer."), name="b")
    chain = Chain([Hop(primary, name="p"), Hop(backup, name="b")])  # type: ignore[arg-type]
    run = drive(chain)
    assert run.text == "\n\nFresh answer."
    assert backup.calls[0].continuation is None
