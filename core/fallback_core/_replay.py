"""Recognising a continuation that goes back over the answer instead of going on with it.

Two ways a backup asked to continue an answer goes back over it:

- it *replays* delivered text - the last words, the last sentence, or all of
  it (a verbatim restart) - before going on: `replays` finds the replayed
  piece, so the seam can drop it;
- it *restarts in other words*: it begins the answer again, or begins it again
  after a short preface ("Sure! Here is the answer: ..."), wording it
  differently. That is recognised when the answer's opening - the first
  `OPENING_WORDS` words of the delivered text, compared without case and
  punctuation - starts what the continuation adds, or starts one of its
  sentences (after ``. ! ? : ;`` or a line break) among its first
  `SCAN_WORDS` words: `Opening.restarted_in`.

A restart that shares no opening with the answer cannot be told from a
genuine continuation by its text, and is not recognised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["OPENING_WORDS", "SCAN_WORDS", "Opening", "needs_more", "replays", "within"]

OPENING_WORDS = 3
"""How many words open an answer, for recognising a restart in other words."""

SCAN_WORDS = 12
"""Sentences starting within this many words of a continuation are checked for the opening."""

_TOKEN = re.compile(r"\S+")
_EDGES = re.compile(r"^\W+|\W+$")
_BREAKS = frozenset(".!?:;")


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _at_boundary(text: str, start: int, first: str) -> bool:
    """Whether a piece starting with ``first`` at ``text[start]`` starts a word there."""
    return start == 0 or not _word(text[start - 1]) or not _word(first)


def within(delivered: str, body: str, hint: int = 0) -> int | None:
    """Where ``body`` occurs in ``delivered`` at a word boundary, if it does: a replay may follow.

    ``hint`` is where a shorter start of ``body`` was found last time; it is
    tried first, so a long replay is followed in linear time.
    """
    if delivered.startswith(body, hint) and _at_boundary(delivered, hint, body[0]):
        return hint
    start = delivered.find(body)
    while start >= 0:
        if _at_boundary(delivered, start, body[0]):
            return start
        start = delivered.find(body, start + 1)
    return None


def replays(delivered: str, body: str) -> list[int]:
    """Every length k with ``body[:k] == delivered[-k:]``, longest first (one linear pass)."""
    pattern = body[: len(delivered)]
    if not pattern:
        return []
    border = _borders(pattern)
    matched = 0
    for char in delivered[-len(pattern) :]:
        while matched and (matched == len(pattern) or char != pattern[matched]):
            matched = border[matched - 1]
        if char == pattern[matched]:
            matched += 1
    found = []
    while matched:
        found.append(matched)
        matched = border[matched - 1]
    return found


def _borders(pattern: str) -> list[int]:
    """KMP's failure function: for each prefix, its longest proper prefix that is also a suffix."""
    border = [0] * len(pattern)
    k = 0
    for i in range(1, len(pattern)):
        while k and pattern[i] != pattern[k]:
            k = border[k - 1]
        if pattern[i] == pattern[k]:
            k += 1
        border[i] = k
    return border


def _words(text: str) -> list[tuple[str, bool]]:
    """The words of ``text``, case and edge punctuation dropped, each: does it start a sentence."""
    words: list[tuple[str, bool]] = []
    starts, end = True, 0
    for match in _TOKEN.finditer(text):
        if "\n" in text[end : match.start()]:
            starts = True
        token = match.group()
        word = _EDGES.sub("", token).lower()
        if word:
            words.append((word, starts))
            starts = False
        if token[-1] in _BREAKS:
            starts = True
        end = match.end()
    return words


@dataclass(frozen=True, slots=True)
class Opening:
    """The first words of an answer; the last may be cut short (``partial``)."""

    words: tuple[str, ...]
    partial: bool
    start: int = 0
    """Where the first word starts in the delivered text (after any markup such as ``##``)."""

    @classmethod
    def of(cls, delivered: str) -> Opening | None:
        """The opening of ``delivered``, or None while it has fewer than `OPENING_WORDS` words."""
        every = _words(delivered)
        if len(every) < OPENING_WORDS:
            return None
        words = tuple(word for word, _ in every[:OPENING_WORDS])
        # Cut inside its third word, the opening's last word may be longer in a restart.
        partial = len(every) == OPENING_WORDS and _word(delivered[-1])
        start = next(m.start() for m in _TOKEN.finditer(delivered) if _EDGES.sub("", m.group()))
        return cls(words, partial, start)

    def restarted_in(self, added: str) -> bool:
        """Whether ``added`` - what a continuation adds - starts the answer over."""
        words = _words(added)
        for i, (_, starts) in enumerate(words[:SCAN_WORDS]):
            if starts and self._matches([word for word, _ in words[i : i + OPENING_WORDS]]):
                return True
        return False

    def _matches(self, words: list[str]) -> bool:
        if len(words) < OPENING_WORDS:
            return False
        *head, last = self.words
        if words[: OPENING_WORDS - 1] != head:
            return False
        return words[-1].startswith(last) if self.partial else words[-1] == last


def needs_more(added: str) -> bool:
    """Whether ``added`` is still too short to be checked for a restart.

    Its last word may be incomplete, so one word more than the check reads is needed.
    """
    return len(_words(added)) < SCAN_WORDS + OPENING_WORDS
