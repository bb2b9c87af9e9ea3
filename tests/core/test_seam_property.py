"""The seam, property-tested: cut an answer anywhere, let the backup misbehave, get the answer.

An answer is a list of tokens the way a tokenizer streams them: words with
their leading space, sentence ends, and paragraph breaks as tokens of their
own. The primary is cut after any token; the backup continues in one of the
ways real backups do - exactly, repeating the last words or the last sentence,
starting over verbatim, dropping or doubling the seam's space, rewriting the
whitespace its stripped prefill did not show it - and the caller must receive
the answer exactly. A backup that starts over in other words must never reach
the caller: the next hop finishes the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fallback_core import Category, Chain, Hop
from fallback_core._replay import OPENING_WORDS, Opening

from .conftest import Drive, _drive_async, _drive_sync
from .scripted import Scripted, cut, ok

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=9)
BEHAVIOURS = ("obey", "repeat", "sentence", "restart", "rewrite_whitespace")


@dataclass(frozen=True)
class Case:
    tokens: list[str]
    cut_at: int
    behaviour: str
    repeat: int
    seam: str  # kept / dropped / doubled: the space before the backup's first word
    strategy: str

    @property
    def answer(self) -> str:
        return "".join(self.tokens)

    @property
    def delivered(self) -> str:
        return "".join(self.tokens[: self.cut_at])


@st.composite
def answers(draw: st.DrawFn) -> list[str]:
    """Tokens of an answer: words, some ending a sentence, some sentences ending a paragraph."""
    words = draw(st.lists(WORD, min_size=2, max_size=40))
    words = [w for i, w in enumerate(words) if i == 0 or w != words[i - 1]]
    if len(words) < 2:
        words.append(words[0] + "x")
    ends = draw(st.lists(st.sampled_from(["", "", "", ".", ".\n\n"]), min_size=len(words)))
    tokens: list[str] = []
    new_sentence = True
    for word, end in zip(words, ends, strict=False):
        text = word.capitalize() if new_sentence else word
        lead = "" if not tokens or tokens[-1] == "\n\n" else " "
        tokens.append(lead + text + end.rstrip("\n"))
        if end.endswith("\n\n") and word is not words[-1]:
            tokens.append("\n\n")
        new_sentence = bool(end)
    return tokens


@st.composite
def cases(draw: st.DrawFn) -> Case:
    tokens = draw(answers())
    cut_at = draw(st.integers(min_value=1, max_value=len(tokens) - 1))
    behaviour = draw(st.sampled_from(BEHAVIOURS))
    repeat = draw(st.integers(min_value=1, max_value=min(3, cut_at)))
    seam = draw(st.sampled_from(["kept", "dropped", "doubled"]))
    strategy = draw(st.sampled_from(["instruct", "prefill"]))
    case = Case(tokens, cut_at, behaviour, repeat, seam, strategy)
    assume(not repeats_across(case))
    assume(not opening_recurs(case.delivered, case.answer[len(case.delivered) :]))
    return case


def _words(text: str) -> list[str]:
    return [w.strip(".").lower() for w in text.split()]


def repeats_across(case: Case) -> bool:
    """Whether the text after the cut starts by repeating words just before it ("a aa | a aa").

    Such a text is indistinguishable from a backup repeating the tail, so the
    seam trims it (a documented limit, pinned in test_seam); the property holds
    for every other cut.
    """
    before, after = _words(case.delivered), _words(case.answer[len(case.delivered) :])
    return any(before[-k:] == after[:k] for k in range(1, min(len(before), len(after)) + 1))


def opening_recurs(delivered: str, rest: str) -> bool:
    """Whether a genuine continuation itself starts a sentence with the answer's opening.

    It reads exactly like a restart in other words (another documented limit).
    """
    opening = Opening.of(delivered)
    return opening is not None and opening.restarted_in(rest)


def backup_chunks(case: Case) -> list[str]:
    """What the backup streams for `case`'s behaviour."""
    tokens, cut_at = case.tokens, case.cut_at
    if case.behaviour == "rewrite_whitespace":
        # The hop continues from the delivered text without its trailing whitespace.
        delivered = case.delivered
        return [case.answer[len(delivered.rstrip()) :]]
    if case.behaviour == "restart":
        rest = list(tokens)
    elif case.behaviour == "repeat":
        rest = tokens[cut_at - case.repeat :]
    elif case.behaviour == "sentence":
        starts = [i for i in range(cut_at) if i == 0 or tokens[i - 1].endswith((".", "\n\n"))]
        rest = tokens[starts[-1] :]
    else:
        rest = tokens[cut_at:]
    first = rest[0]
    if first == "\n\n" or (not first.startswith(" ") and case.behaviour == "obey"):
        return rest  # a paragraph starts here: no space to vary
    lead = {"kept": " ", "dropped": "", "doubled": "  "}[case.seam]
    if case.strategy == "prefill" and case.behaviour == "obey" and case.seam == "dropped":
        lead = " "  # a prefill resumes its own message; it does not drop the space
    return [lead + first.lstrip(" "), *rest[1:]]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), use_async=st.booleans())
def test_stream_cut_anywhere_is_completed_exactly_once(case: Case, use_async: bool) -> None:
    """For any cut point and backup behaviour, the caller gets the answer exactly."""
    primary = Scripted(cut(*case.tokens[: case.cut_at]), name="p")
    backup = Scripted(ok(*backup_chunks(case)), name="b")
    chain = Chain([Hop(primary, name="p"), Hop(backup, name="b", continuation=case.strategy)])  # type: ignore[arg-type]
    drive: Drive = _drive_async if use_async else _drive_sync
    run = drive(chain)
    assert run.error is None
    assert run.text == case.answer
    assert backup.calls[0].continuation is not None
    assert backup.calls[0].continuation.text == case.delivered


@st.composite
def rewordings(draw: st.DrawFn) -> tuple[list[str], int, list[str]]:
    """An answer, a cut after its opening, and a backup that starts it over in other words."""
    tokens = draw(answers())
    assume(sum(1 for t in tokens if t.strip()) > OPENING_WORDS + 1)
    cut_at = draw(st.integers(min_value=OPENING_WORDS + 1, max_value=len(tokens) - 1))
    delivered = "".join(tokens[:cut_at])
    assume(len(delivered.split()) > OPENING_WORDS)
    opening = delivered.split()[:OPENING_WORDS]
    preface = draw(st.sampled_from(["", "Sure!", "Here is the answer again:", "Of course.\n\n"]))
    other = draw(st.lists(WORD, min_size=1, max_size=12))
    assume(other[0] != delivered.split()[OPENING_WORDS].strip(".").lower())
    restart = " ".join([preface, *opening, *other]).strip() + "."
    # A rewording that begins with the delivered text itself ("A aa a s" -> "A aa a sa.")
    # reads as a verbatim restart of an answer cut inside its last word: from the text
    # alone it cannot be told apart (a known limit in README.md), so it is not this case.
    assume(not restart.startswith(delivered))
    return tokens, cut_at, [restart[:10], restart[10:]]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=rewordings(), use_async=st.booleans())
def test_a_restart_in_other_words_never_reaches_the_caller(
    case: tuple[list[str], int, list[str]], use_async: bool
) -> None:
    """A backup that starts the answer over with its opening fails; the next hop finishes it."""
    tokens, cut_at, restart = case
    primary = Scripted(cut(*tokens[:cut_at]), name="p")
    rewording = Scripted(ok(*restart), name="r")
    third = Scripted(ok(*tokens[cut_at:]), name="t")
    chain = Chain([Hop(primary, name="p"), Hop(rewording, name="r"), Hop(third, name="t")])  # type: ignore[arg-type]
    drive: Drive = _drive_async if use_async else _drive_sync
    run = drive(chain)
    assert run.error is None
    assert run.text == "".join(tokens)
    assert run.trace.attempts[1].category is Category.SEAM
