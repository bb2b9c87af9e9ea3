"""Joining a continuation onto the text already delivered, without repeats or broken spacing.

A backup that continues an answer often repeats the last words it was shown,
or drops (or doubles) the space at the join. `Seam` holds back at most
`LOOKAHEAD` characters at the start of the continuation - only there - then
trims the longest overlap with the end of the delivered text and fixes the
whitespace, and from then on passes text straight through.

Rules, in order:

1. Overlap: the longest prefix of the continuation (leading whitespace
   ignored) that is also a suffix of the delivered text, starting at a word
   boundary in the delivered text, containing a letter or digit, and ending
   at a word boundary in the continuation - or, if it spans two words or more,
   mid-word (the delivered text was cut inside a word the backup repeated).
   What follows the overlap is kept exactly as the backup wrote it.
2. Without an overlap, whitespace at the join: spaces doubled across the seam
   collapse to one (after a newline they are indentation and stay). For an
   *instruct* continuation - a new message, whose first token rarely starts
   with a space - a word or sentence end followed directly by a word also gets
   one space. A *prefill* continuation resumes the model's
   own message, so its first token already carries the right spacing.

Known limits: a continuation that legitimately starts by repeating the
previous words ("very very", "bye bye") loses the repeat; an instruct continuation of a
stream cut inside a word, completing the word without repeating it, gets a
space inside the word.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOOKAHEAD", "Seam", "SeamResult", "join"]

LOOKAHEAD = 64
_SENTENCE_END = frozenset(".,;:!?")


@dataclass(frozen=True, slots=True)
class SeamResult:
    """How the seam was joined: characters of overlap trimmed and the whitespace fix made."""

    overlap: int
    fix: str | None  # "collapsed-space", "inserted-space" or None


def join(
    delivered: str, head: str, *, final: bool, insert_space: bool = True
) -> tuple[str, SeamResult]:
    """The part of ``head`` to deliver after ``delivered``, and what was done at the seam.

    ``final`` says the continuation ends with ``head`` (so an overlap may run to
    its end); ``insert_space`` allows rule 2's inserted space (instruct only).
    """
    if not delivered:
        return head, SeamResult(0, None)
    body = head.lstrip()
    for k in range(min(len(body), len(delivered)), 0, -1):
        if _is_overlap(delivered, body, k, final=final):
            return body[k:], SeamResult(len(head) - len(body) + k, None)
    return _fix_space(delivered, head, insert_space=insert_space)


def _is_overlap(delivered: str, body: str, k: int, *, final: bool) -> bool:
    piece = body[:k]
    if not delivered.endswith(piece) or not any(c.isalnum() for c in piece):
        return False
    starts_at_boundary = k == len(delivered) or not _word(delivered[-k - 1]) or not _word(piece[0])
    if not starts_at_boundary:
        return False
    if k == len(body):
        return final or k >= LOOKAHEAD
    ends_at_boundary = not _word(body[k]) or not _word(body[k - 1])
    return ends_at_boundary or any(c.isspace() for c in piece.strip())


def _fix_space(delivered: str, head: str, *, insert_space: bool) -> tuple[str, SeamResult]:
    if not head:
        return head, SeamResult(0, None)
    last, first = delivered[-1], head[0]
    body = head.lstrip(" \t")
    spaces = len(head) - len(body)
    if spaces and last in " \t":
        return body, SeamResult(0, "collapsed-space")
    if spaces > 1 and last != "\n":  # after a newline, leading spaces are indentation
        return " " + body, SeamResult(0, "collapsed-space")
    if insert_space and (last.isalnum() or last in _SENTENCE_END) and first.isalnum():
        return " " + head, SeamResult(0, "inserted-space")
    return head, SeamResult(0, None)


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


class Seam:
    """Streams a continuation onto ``delivered``, holding back at most `LOOKAHEAD` characters."""

    __slots__ = ("_buffer", "_delivered", "_insert_space", "result")

    def __init__(self, delivered: str, *, insert_space: bool = True) -> None:
        self._delivered = delivered
        self._insert_space = insert_space
        self._buffer = ""
        self.result: SeamResult | None = None

    @property
    def open(self) -> bool:
        """Whether the seam is still holding text back."""
        return self.result is None

    def feed(self, text: str) -> str:
        """Take the next continuation text; return what may be delivered now."""
        if self.result is not None:
            return text
        self._buffer += text
        if len(self._buffer.lstrip()) < LOOKAHEAD:
            return ""
        return self._resolve(final=False)

    def flush(self) -> str:
        """The continuation has ended (or must show its text now): release what is held."""
        if self.result is not None:
            return ""
        return self._resolve(final=True)

    def _resolve(self, *, final: bool) -> str:
        out, self.result = join(
            self._delivered, self._buffer, final=final, insert_space=self._insert_space
        )
        self._buffer = ""
        return out
