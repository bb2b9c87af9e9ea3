"""A corpus of realistic answers, and how the seam treats every cut of each.

Each answer is cut after every token (words with their leading space,
newlines as tokens of their own). For each cut the seam is handed:

- genuine continuations - the exact rest, the rest repeating the last three
  words, the rest repeating the sentence it was cut in: each must join to the
  answer exactly, and raising `SeamError` there is a false alarm;
- restarts that reuse the answer's opening - verbatim (must join exactly, the
  replay dropped), after a preface ("Sure! ..."), and in other words after the
  same three opening words, with or without a preface: each of the last three
  must raise `SeamError` once three words were delivered (a reworded restart
  without a preface only once a fourth word showed it differs);
- restarts that share no opening with the answer: counted, not required (no
  rule on the text can tell them from a continuation).

`python -m tests.core.seam_corpus` prints the counts.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from fallback_core import SeamError
from fallback_core._replay import Opening
from fallback_core._seam import Seam

ANSWERS = (
    "The sky looks blue because air molecules scatter short wavelengths of sunlight more "
    "strongly than long ones. This is called Rayleigh scattering. At sunset the light "
    "crosses much more air, so most of the blue is scattered away before it reaches you, "
    "and the reds and oranges are left.",
    "To reverse a list in Python you have three common options:\n\n"
    "1. `items.reverse()` reverses the list in place and returns None.\n"
    "2. `items[::-1]` returns a reversed copy.\n"
    "3. `reversed(items)` returns an iterator, which is handy in loops.\n\n"
    "Use the first when you own the list and the second when you need a new one.",
    "Sure! Here is a simple function:\n\n"
    "```python\n"
    "def is_prime(n: int) -> bool:\n"
    "    if n < 2:\n"
    "        return False\n"
    "    for d in range(2, int(n ** 0.5) + 1):\n"
    "        if n % d == 0:\n"
    "            return False\n"
    "    return True\n"
    "```\n\n"
    "It tries every divisor up to the square root, which is enough for small numbers.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen. It happens "
    "in the chloroplasts of plant cells, where chlorophyll absorbs mostly red and blue "
    "light. The light reactions split water and store energy in ATP and NADPH; the Calvin "
    "cycle then uses that energy to fix carbon dioxide into sugars.",
    "There are a few reasons your build might be slow. First, check whether the cache is "
    "being used at all: a cold cache rebuilds everything. Second, look for a dependency "
    "that changes on every run, such as a generated timestamp. Third, measure the longest "
    "steps before optimising anything; the slowest step is rarely the one you expect.",
    "A mutex lets only one thread at a time into a critical section. A semaphore keeps a "
    "count, so up to N threads may enter. Use a mutex to protect shared state, and a "
    "semaphore to limit how many workers use a scarce resource, such as connections to a "
    "database.",
    "## Summary\n\n"
    "The migration moved the orders table to the new cluster with no downtime.\n\n"
    "## What went well\n\n"
    "- Dual writes caught two schema mismatches early.\n"
    "- The backfill finished a day ahead of plan.\n\n"
    "## What to improve\n\n"
    "- Alerts on replication lag fired too late.\n"
    "- The rollback script was never rehearsed.",
    "In short, yes. Caching the parsed configuration is safe as long as you invalidate it "
    "when the file changes. Watch the modification time, or better, subscribe to file "
    "system events, and reload when they fire. Keep the old configuration until the new "
    "one has been validated, so a broken file never takes the service down.",
    "Dear Ms. Patel,\n\n"
    "Thank you for your order. Unfortunately the blue model is out of stock until next "
    "month. We can ship the grey model today at the same price, or hold your order until "
    "the blue one arrives. Please let us know which you prefer.\n\n"
    "Kind regards,\nThe Support Team",
    "Binary search finds an item in a sorted list by halving the range each step. Compare "
    "the target with the middle element: if it is smaller, keep the left half; if larger, "
    "keep the right half; if equal, you are done. Each step halves the range, so a list of "
    "a million items needs at most twenty comparisons.",
    "The French Revolution began in 1789, when a fiscal crisis forced Louis XVI to summon "
    "the Estates-General. The Third Estate declared itself a National Assembly, the "
    "Bastille fell in July, and within three years the monarchy was abolished. The "
    "revolution ended the old feudal order and spread the ideas of citizenship and rights "
    "across Europe.",
    "Here are three tips for better sleep:\n\n"
    "- Keep the same wake-up time every day, weekends included.\n"
    "- Avoid caffeine after lunch; it lingers for hours.\n"
    "- Keep the bedroom cool, dark and quiet.\n\n"
    "If problems last more than a few weeks, talk to a doctor.",
    "It depends on what you need. If you want strong consistency and complex queries, a "
    "relational database such as PostgreSQL is the safe choice. If your data is a huge "
    "stream of events that you only append and scan, a column store or a log-structured "
    "system will be cheaper. Most teams should start with PostgreSQL and move only when "
    "they measure a real limit.",
    "Gradient descent minimises a function by taking small steps against its gradient. "
    "At each step you compute the slope of the loss with respect to every parameter, then "
    "move each parameter a little in the direction that lowers the loss. The step size, or "
    "learning rate, matters: too large and the loss diverges, too small and training "
    "crawls.",
    "No, you do not need to restart the server. The new certificate is read on the next "
    "connection, so existing connections keep the old one until they close. If you want "
    "every client on the new certificate at once, drain the connections gracefully; a hard "
    "restart would drop requests in flight.",
    "The recipe serves four.\n\n"
    "Ingredients: 400 g spaghetti, 150 g pancetta, 3 eggs, 50 g pecorino, black pepper.\n\n"
    "Cook the pasta in salted water. Fry the pancetta until crisp. Beat the eggs with the "
    "cheese and plenty of pepper. Toss the drained pasta with the pancetta off the heat, "
    "then stir in the egg mixture quickly so it turns creamy instead of scrambled.",
    "Climate and weather differ in time scale. Weather is what the atmosphere does over "
    "hours and days: a storm, a heat wave, a frosty morning. Climate is the pattern of "
    "weather over decades. A cold week does not disprove warming, just as one hot summer "
    "does not prove it; trends show up only in long records.",
    "Yes. You can run the tests in parallel with pytest-xdist: install it, then call "
    "`pytest -n auto`. Tests that share files or ports may then collide, so give each "
    "worker its own temporary directory and pick free ports at run time. Start with the "
    "slowest modules; they gain the most.",
    "The error means the client closed the connection before the server answered. It "
    "usually comes from a timeout on the client side that is shorter than the time the "
    "server needs. Raise the client timeout, or make the slow endpoint return sooner, for "
    "example by moving the heavy work to a background job and returning its id.",
    "Interest compounds when the interest you earn is added to the balance, so the next "
    "period earns interest on it too. At 5% a year, 1000 becomes 1050 after one year and "
    "about 1629 after ten years, not 1500. The longer the horizon, the larger the gap "
    "between simple and compound growth.",
)

_TOKEN = re.compile(r"\n|[^\S\n]*[^\s]+")
PREFACES = ("Sure! ", "Certainly, here is the full answer again:\n\n", "Let me start over. ")


def tokenise(text: str) -> list[str]:
    """Words with their leading spaces; each newline a token of its own."""
    tokens = _TOKEN.findall(text)
    assert "".join(tokens) == text
    return tokens


def _sent(delivered: str, prefill: bool) -> str:
    """The partial answer as the hop is sent it (a prefill without trailing whitespace)."""
    return delivered.rstrip() if prefill else delivered


def _feed(delivered: str, continuation: list[str], *, prefill: bool) -> str | None:
    """The joined text, or None when the seam raised `SeamError`."""
    sent = _sent(delivered, prefill)
    seam = Seam(delivered, sent=sent, insert_space=not prefill)
    out = ""
    try:
        for piece in continuation:
            out += seam.feed(piece)
        out += seam.flush()
    except SeamError:
        return None
    return delivered + out


def _opening_end(text: str) -> int:
    """Where the third word (a token with a letter or digit) of ``text`` ends."""
    words = [m for m in re.finditer(r"\S+", text) if any(c.isalnum() for c in m.group())]
    return words[2].end()


def _reworded(answer: str, other: str) -> str:
    """``answer``'s first three words, then another answer's wording."""
    return answer[: _opening_end(answer)] + other[_opening_end(other) :]


@dataclass
class Tally:
    """Counts per kind of continuation: how many were tried and how many ended each way."""

    tried: Counter[str] = field(default_factory=Counter)
    required: Counter[str] = field(default_factory=Counter)
    exact: Counter[str] = field(default_factory=Counter)
    raised: Counter[str] = field(default_factory=Counter)
    wrong: list[tuple[str, int, str]] = field(default_factory=list)

    def note(self, kind: str, index: int, result: str | None, answer: str, must: str) -> None:
        """Count one continuation: ``must`` is "join" (exactly), "raise", or "-" (no rule)."""
        self.tried[kind] += 1
        self.required[kind] += must != "-"
        if result is None:
            self.raised[kind] += 1
        elif result == answer:
            self.exact[kind] += 1
        if (must == "join" and result != answer) or (must == "raise" and result is not None):
            self.wrong.append((kind, index, "raised" if result is None else result))


def measure(stride: int = 1) -> Tally:
    """Every ``stride``-th cut of every answer against every kind of continuation."""
    tally = Tally()
    for index, answer in enumerate(ANSWERS):
        other = ANSWERS[(index + 1) % len(ANSWERS)]
        tokens = tokenise(answer)
        for cut in range(1 + index % stride, len(tokens), stride):
            delivered = "".join(tokens[:cut])
            opened = Opening.of(delivered) is not None
            shown = opened and len(delivered) > _opening_end(answer)
            for prefill in (False, True):
                _genuine(tally, index, answer, tokens, cut, prefill)
                tally.note(
                    "restart verbatim",
                    index,
                    _feed(delivered, tokenise(answer), prefill=prefill),
                    answer,
                    "join",
                )
                for preface in PREFACES:
                    restart = tokenise(" " + preface + answer)
                    must = "raise" if opened else "-"
                    result = _feed(delivered, restart, prefill=prefill)
                    tally.note("restart after a preface", index, result, answer, must)
                    reworded = tokenise(" " + preface + _reworded(answer, other))
                    result = _feed(delivered, reworded, prefill=prefill)
                    tally.note("reworded after a preface", index, result, answer, must)
                reworded = tokenise(_reworded(answer, other))
                must = "raise" if shown and _differs(delivered, answer, other) else "-"
                result = _feed(delivered, reworded, prefill=prefill)
                tally.note("reworded, same opening", index, result, answer, must)
                fresh = _feed(delivered, tokenise(other), prefill=prefill)
                tally.note("restart, other opening", index, fresh, answer, "-")
    return tally


def _differs(delivered: str, answer: str, other: str) -> bool:
    """Whether the delivered text already shows the reworded restart is not a replay of it."""
    return not _reworded(answer, other).startswith(delivered.rstrip())


def _genuine(
    tally: Tally, index: int, answer: str, tokens: list[str], cut: int, prefill: bool
) -> None:
    delivered = "".join(tokens[:cut])
    # What an obedient hop writes: the answer after what it was sent.
    rest = tokenise(answer[len(_sent(delivered, prefill)) :])
    tally.note("genuine", index, _feed(delivered, rest, prefill=prefill), answer, "join")
    if not _starts_fresh(tokens, cut):
        return
    words = [i for i in range(cut) if tokens[i].strip()]
    repeat_from = words[-3] if len(words) >= 3 else words[0]
    result = _feed(delivered, _again(tokens, repeat_from), prefill=prefill)
    tally.note("genuine, last words repeated", index, result, answer, "join")
    breaks = [i + 1 for i in range(cut - 1) if tokens[i].rstrip().endswith((".", ":", "!", "?"))]
    sentence = next((i for i in reversed(breaks) if tokens[i].strip()), 0)
    result = _feed(delivered, _again(tokens, sentence), prefill=prefill)
    tally.note("genuine, sentence repeated", index, result, answer, "join")


def _again(tokens: list[str], start: int) -> list[str]:
    """A continuation that repeats the answer from token ``start`` on (its first word spaced)."""
    return tokenise(" " + "".join(tokens[start:]).lstrip())


def _starts_fresh(tokens: list[str], cut: int) -> bool:
    """Whether the rest does not itself begin with the words just before the cut.

    Otherwise a repeat of those words cannot be told from the text (a documented limit).
    """
    before = "".join(tokens[:cut]).split()
    after = "".join(tokens[cut:]).split()
    return not any(before[-k:] == after[:k] for k in range(1, min(len(before), len(after), 3) + 1))


def report(tally: Tally) -> str:
    """The counts as a small table (``required``: continuations a rule covers)."""
    head = ("continuation", "tried", "required", "exact", "raised")
    lines = [f"{head[0]:<28}" + "".join(f"{h:>10}" for h in head[1:])]
    for kind in tally.tried:
        counts = (tally.tried, tally.required, tally.exact, tally.raised)
        lines.append(f"{kind:<28}" + "".join(f"{c[kind]:>10}" for c in counts))
    lines.append(f"answers: {len(ANSWERS)}, wrong: {len(tally.wrong)}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(measure()))
