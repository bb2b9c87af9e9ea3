"""What a scripted model does when asked to continue an answer: the ways real backups behave.

A continuation request carries a partial answer - as a final assistant
message (a prefill) or followed by an instruction to continue it - and real
models do not always honour it. A `Backup` is one such behaviour, worked out
on the answer text and the request's shape only (`Ask`), so every protocol
the fault server speaks shares it. `parse_backup` reads the text form used by
the `X-Backup` header and the command line:

    obey              continue exactly where the given text stops (the default)
    restart           ignore the request and answer again from the start, verbatim
    preface           answer again from the start after a short preface ("Sure! ...")
    reword            start over in other words: the answer's first three words, then
                      different wording
    overlap[=N]       repeat the last N words given (default 3), then continue
    overlap=sentence  repeat the sentence the given text stops in, then continue
    strip             continue from the given text without its trailing whitespace, so
                      the continuation writes that whitespace again (what a provider that
                      strips a prefill, or a chat template that trims it, produces)
    empty             finish at once without a word
    vllm              like a vLLM server: a final assistant message is continued only with
                      continue_final_message=true and add_generation_prompt=false (both
                      true is a 400); without them it is taken as a finished turn and the
                      answer starts over

A model rejecting every prefill is a fault, not a backup behaviour:
`Fault.reject_prefill`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "BACKUP_NAMES",
    "OBEY",
    "PREFACE",
    "REWORDING",
    "Ask",
    "Backup",
    "BackupRefusal",
    "parse_backup",
]

BackupName = Literal["obey", "restart", "preface", "reword", "overlap", "strip", "empty", "vllm"]
BACKUP_NAMES: frozenset[str] = frozenset(get_args(BackupName))

PREFACE = "Sure! Here is the whole answer again.\n\n"
"""What a `preface` backup says before starting the answer over."""

REWORDING = ", to put it in other words,"
"""What a `reword` backup says after the answer's first three words instead of the rest."""

_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?:;](?=\s)|\n")


class BackupRefusal(Exception):
    """The request is one the backup's server refuses with a 400 (its message says why)."""


@dataclass(frozen=True, slots=True)
class Ask:
    """A request to continue ``answer``, which the model would have given in full.

    ``given`` is the partial answer exactly as the request carries it;
    ``prefill`` says it is the request's final message (no instruction follows).
    ``continue_final_message`` and ``add_generation_prompt`` are the request's
    flags of those names (vLLM's chat-template options), where it has them.
    """

    answer: str
    given: str
    prefill: bool
    continue_final_message: bool = False
    add_generation_prompt: bool = True


@dataclass(frozen=True, slots=True)
class Backup:
    """One way of answering a continuation request; build it with a classmethod.

    ``words`` is how many words an `overlap` repeats (None: the last sentence).
    """

    name: BackupName = "obey"
    words: int | None = None

    def __post_init__(self) -> None:
        if self.name not in BACKUP_NAMES:
            raise ValueError(f"unknown backup behaviour {self.name!r}")
        if self.words is not None and self.words < 1:
            raise ValueError(f"an overlap repeats at least one word, got {self.words}")

    @classmethod
    def obey(cls) -> Backup:
        """Continue exactly where the given text stops."""
        return cls("obey")

    @classmethod
    def restart(cls) -> Backup:
        """Ignore the request and give the whole answer again, verbatim."""
        return cls("restart")

    @classmethod
    def preface(cls) -> Backup:
        """Give the whole answer again after `PREFACE`."""
        return cls("preface")

    @classmethod
    def reword(cls) -> Backup:
        """Start over in other words: the answer's first three words, then `REWORDING` and on."""
        return cls("reword")

    @classmethod
    def overlap(cls, words: int | None = 3) -> Backup:
        """Repeat the last ``words`` words given (None: the sentence it stops in), then go on."""
        return cls("overlap", words)

    @classmethod
    def strip(cls) -> Backup:
        """Continue from the given text without its trailing whitespace, writing it again."""
        return cls("strip")

    @classmethod
    def empty(cls) -> Backup:
        """Finish at once without a word."""
        return cls("empty")

    @classmethod
    def vllm(cls) -> Backup:
        """Continue a final assistant message only when the request flags it as vLLM requires."""
        return cls("vllm")

    def reply(self, ask: Ask) -> str:
        """The text the model writes for ``ask``; raises `BackupRefusal` for a refused request."""
        answer, given = ask.answer, ask.given
        if self.name == "vllm":
            return _vllm(ask)
        if self.name == "restart":
            return answer
        if self.name == "preface":
            return PREFACE + answer
        if self.name == "reword":
            return reworded(answer)
        if self.name == "empty":
            return ""
        rest = rest_after(answer, given.rstrip() if self.name == "strip" else given)
        if self.name == "overlap":
            return " " + _tail(given, self.words) + rest_after(answer, given.rstrip())
        return rest

    def __str__(self) -> str:
        if self.name != "overlap":
            return self.name
        return f"overlap={'sentence' if self.words is None else self.words}"


OBEY = Backup()
"""The default behaviour: continue exactly."""


def rest_after(answer: str, given: str) -> str:
    """The part of ``answer`` after ``given`` (or after it stripped, if only that is a prefix)."""
    if answer.startswith(given):
        return answer[len(given) :]
    return answer[len(given.rstrip()) :]


def reworded(answer: str) -> str:
    """``answer`` started over in other words: its first three words, then something else."""
    words = list(_WORD.finditer(answer))
    if len(words) <= 3:
        return answer + REWORDING
    return answer[: words[2].end()] + REWORDING + answer[words[2].end() :]


def _tail(given: str, words: int | None) -> str:
    """The last ``words`` words of ``given`` as written, or (None) the sentence it stops in."""
    text = given.rstrip()
    if words is None:
        ends = [m.end() for m in _SENTENCE_END.finditer(text) if m.end() < len(text)]
        return text[ends[-1] :].lstrip() if ends else text.lstrip()
    starts = [m.start() for m in _WORD.finditer(text)]
    return text[starts[-min(words, len(starts))] :]


def _vllm(ask: Ask) -> str:
    if ask.continue_final_message and ask.add_generation_prompt:
        raise BackupRefusal(
            "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
        )
    if ask.prefill and not ask.continue_final_message:
        return ask.answer  # the assistant message is a finished turn: a new answer follows
    return rest_after(ask.answer, ask.given)


def parse_backup(spec: str) -> Backup:
    """Read a backup behaviour from its text form (see the module); raise ValueError if bad."""
    name, _, argument = spec.strip().partition("=")
    name, argument = name.strip(), argument.strip()
    if name not in BACKUP_NAMES:
        raise ValueError(f"unknown backup behaviour {name!r} in {spec!r}")
    if not argument:
        return Backup.overlap() if name == "overlap" else Backup(name)  # type: ignore[arg-type]
    if name != "overlap":
        raise ValueError(f"{name!r} takes no argument, got {spec!r}")
    if argument == "sentence":
        return Backup.overlap(None)
    try:
        return Backup.overlap(int(argument))
    except ValueError:
        raise ValueError(f"overlap takes a word count or 'sentence', got {argument!r}") from None
