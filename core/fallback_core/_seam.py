"""Joining a continuation onto the text already delivered: nothing repeated, nothing restarted.

A backup asked to continue an answer often goes back over it first - it
repeats the last words or the last sentence, or ignores the request and starts
the whole answer again - or botches the whitespace at the join. `Seam` holds
back the start of the continuation, and only the start, until it can tell
which; it then delivers what is new and from there on passes text straight
through.

Rules, in order:

1. Replay: the longest prefix of the continuation (leading whitespace
   ignored) that is also a suffix of the delivered text - starting at a word
   boundary there, containing a letter or digit, and ending at a word boundary
   in the continuation or, if it spans two words or more, mid-word (the
   delivered text was cut inside a word the backup repeated) - is dropped.
   That covers a backup repeating its last words, its last sentence, or
   everything from the first word (a verbatim restart). What follows is kept
   exactly as the backup wrote it.
2. Restart in other words: if what is left starts the answer over - the
   delivered text's first three words open it, or open one of its sentences
   within its first twelve words (see ``_replay``) - the seam fails with
   `SeamError` and none of it reaches the caller.
3. Without a replay, whitespace at the join: spaces doubled across the seam
   collapse to one (after a newline they are indentation and stay); newlines
   are reconciled the same way - a prefill is sent without its trailing
   whitespace (``sent``), so a backup's continuation that starts by writing
   that whitespace again has the part already delivered dropped, and
   otherwise no join makes more than one blank line. For an *instruct*
   continuation - a new message, whose first token rarely starts with a space
   - a word or sentence end followed directly by a word also gets one space.
   A prefill resumes the model's own message, so its first token already
   carries the right spacing.

Hold-back: the seam holds the continuation while it could still be a replay
(it is, so far, a piece of the delivered text), and then until what it adds
has `SCAN_WORDS` + `OPENING_WORDS` words or `WINDOW` characters (or the
continuation ends). The worst case is a verbatim restart: the length of the
delivered text plus `WINDOW` characters (and any leading whitespace). A
genuine continuation stops matching the delivered text within a word or two,
so it waits for about fifteen words.

Known limits: a continuation that legitimately starts by repeating the
previous words ("very very", "bye bye") loses the repeat; an instruct
continuation of a stream cut inside a word, completing the word without
repeating it, gets a space inside the word; a restart that shares no opening
with the answer, or a cut inside the words a restart repeats verbatim, is
indistinguishable from a genuine continuation and is joined as one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ._errors import SeamError
from ._replay import OPENING_WORDS, SCAN_WORDS, Opening, needs_more, replays, within
from ._types import SeamFix

__all__ = ["OPENING_WORDS", "SCAN_WORDS", "WINDOW", "Seam", "SeamResult", "join"]

WINDOW = 160
"""Characters of new text a seam holds, at most, to check for a restart."""

_SENTENCE_END = frozenset(".,;:!?")


@dataclass(frozen=True, slots=True)
class SeamResult:
    """How the seam was joined.

    ``overlap`` characters of replayed text were dropped; ``fix`` is the
    whitespace fix made (``"collapsed-space"``, ``"inserted-space"``,
    ``"merged-newlines"`` or None); ``held`` is how many characters of the
    continuation were held back before the seam was resolved.
    """

    overlap: int
    fix: SeamFix | None
    held: int = 0


def join(
    delivered: str,
    head: str,
    *,
    final: bool,
    insert_space: bool = True,
    stripped: bool = False,
) -> tuple[str, SeamResult]:
    """The part of ``head`` to deliver after ``delivered``, and what was done at the seam.

    ``final`` says the continuation ends with ``head`` (so a replay may run to
    its end); ``insert_space`` allows rule 3's inserted space (instruct only);
    ``stripped`` says the hop was sent ``delivered`` without its trailing whitespace.
    """
    if not delivered:
        return head, SeamResult(0, None)
    body = head.lstrip()
    k = _overlap(delivered, body, final=final)
    if k:
        return body[k:], SeamResult(len(head) - len(body) + k, None)
    return _fix_space(delivered, head, insert_space=insert_space, stripped=stripped)


def _overlap(delivered: str, body: str, *, final: bool) -> int:
    """The length of the replay at the start of ``body`` (rule 1), or 0."""
    for k in replays(delivered, body):
        if _is_overlap(delivered, body, k, final=final):
            return k
    return 0


def _is_overlap(delivered: str, body: str, k: int, *, final: bool) -> bool:
    piece = body[:k]
    if k < len(delivered) and not any(c.isalnum() for c in piece):
        return False  # a replay of punctuation alone, unless it is all that was delivered
    starts_at_boundary = k == len(delivered) or not _word(delivered[-k - 1]) or not _word(piece[0])
    if not starts_at_boundary:
        return False
    if k == len(body):
        return final
    ends_at_boundary = not _word(body[k]) or not _word(body[k - 1])
    return ends_at_boundary or any(c.isspace() for c in piece.strip())


def _fix_space(
    delivered: str, head: str, *, insert_space: bool, stripped: bool
) -> tuple[str, SeamResult]:
    if not head:
        return head, SeamResult(0, None)
    body = delivered.rstrip()
    trailing = delivered[len(body) :]
    rest = head.lstrip()
    leading = head[: len(head) - len(rest)]
    if trailing and leading:
        kept = _kept_whitespace(trailing, leading, stripped=stripped)
        if kept == leading:
            return head, SeamResult(0, None)
        fix: SeamFix = "merged-newlines" if "\n" in trailing + leading else "collapsed-space"
        return kept + rest, SeamResult(0, fix)
    last, first = delivered[-1], head[0]
    unspaced = head.lstrip(" \t")
    if len(head) - len(unspaced) > 1 and last != "\n":
        return " " + unspaced, SeamResult(0, "collapsed-space")
    if insert_space and (last.isalnum() or last in _SENTENCE_END) and first.isalnum():
        return " " + head, SeamResult(0, "inserted-space")
    return head, SeamResult(0, None)


def _kept_whitespace(trailing: str, leading: str, *, stripped: bool) -> str:
    """What to keep of a continuation's ``leading`` whitespace after the delivered ``trailing``."""
    if "\n" not in leading:
        # Spaces after spaces collapse. After a newline, spaces are indentation - unless the
        # hop never saw that newline (a stripped prefill), when they are its word separator.
        return "" if stripped or "\n" not in trailing else leading
    if "\n" not in trailing:
        return leading
    delivered, written = trailing.count("\n"), leading.count("\n")
    if not stripped and delivered + written <= 2:
        return leading  # a newline on each side of the cut: one paragraph break
    indent = leading[leading.rfind("\n") + 1 :]
    return "\n" * max(0, written - delivered) + indent


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


class Seam:
    """Streams a continuation onto ``delivered``, holding back only its start (see the module).

    ``sent`` is the partial answer as the hop was sent it (a prefill goes
    without its trailing whitespace); ``insert_space`` is rule 3's inserted
    space, for instruct continuations. `feed` and `flush` raise `SeamError`
    for a continuation that starts the answer over.
    """

    __slots__ = (
        "_buffer",
        "_delivered",
        "_insert_space",
        "_opening",
        "_replay_at",
        "_stripped",
        "result",
    )

    def __init__(
        self, delivered: str, *, sent: str | None = None, insert_space: bool = True
    ) -> None:
        self._delivered = delivered
        self._stripped = sent is not None and sent != delivered
        self._insert_space = insert_space
        self._opening = Opening.of(delivered)
        self._buffer = ""
        self._replay_at = 0  # where the held text was last found in the delivered text
        self.result: SeamResult | None = None

    @property
    def open(self) -> bool:
        """Whether the seam is still holding text back."""
        return self.result is None

    @property
    def held(self) -> int:
        """How many characters of the continuation are held back right now."""
        return len(self._buffer)

    def feed(self, text: str) -> str:
        """Take the next continuation text; return what may be delivered now."""
        if self.result is not None:
            return text
        self._buffer += text
        if self._holding():
            return ""
        return self._resolve(final=False)

    def flush(self) -> str:
        """The continuation has ended (or must show its text now): release what is held."""
        if self.result is not None:
            return ""
        return self._resolve(final=True)

    def _holding(self) -> bool:
        body = self._buffer.lstrip()
        if not body:
            return True
        at = within(self._delivered, body, self._replay_at)
        if at is not None:
            self._replay_at = at
            return True
        if self._opening is None:
            return False
        added = body[_overlap(self._delivered, body, final=False) :]
        return len(added) < WINDOW and needs_more(added)

    def _restarts(self, opening: Opening, out: str, overlap: int) -> bool:
        """Whether the continuation (``out`` after dropping ``overlap`` characters) starts over.

        Unless it replayed the delivered text from its opening on, a replay
        may hide a restart (a restart's first word "Sure" taken for a replay of
        a last word "sure"), so the continuation is checked from its first
        word as well.
        """
        if opening.restarted_in(out):
            return True
        replayed = overlap - (len(self._buffer) - len(self._buffer.lstrip()))
        from_opening = len(self._delivered) - replayed <= opening.start
        return not from_opening and opening.restarted_in(self._buffer)

    def _resolve(self, *, final: bool) -> str:
        out, result = join(
            self._delivered,
            self._buffer,
            final=final,
            insert_space=self._insert_space,
            stripped=self._stripped,
        )
        if self._opening is not None and self._restarts(self._opening, out, result.overlap):
            raise SeamError(
                "restart",
                f"the continuation started the answer over "
                f"({' '.join(self._opening.words)!r} again) instead of continuing it",
            )
        self.result = replace(result, held=len(self._buffer))
        self._buffer = ""
        return out
