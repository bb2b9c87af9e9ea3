"""What a healthy scripted model says: canonical answers, tokens and continuations.

Every model has one canonical answer. `plan_reply` turns a request into the
reply a well-behaved model would give - the answer (or the rest of it, for a
continuation request), a tool call, cut by `stop` and `max_tokens` - so that
faults only ever change how that reply is delivered, never what it is.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"\s*\S+")
_ARGUMENT_FRAGMENT = 8  # characters of tool-call arguments per streamed chunk

_SENTENCES = (
    "Fallback chains keep a pipeline answering when one provider stumbles.",
    "Each model in the chain is tried in order until one of them succeeds.",
    "A stream that breaks halfway is picked up by the next model in line.",
    "Rate limits, server errors and silent hangs all count as failures here.",
    "The caller sees one answer and never needs to know which model wrote it.",
    "Tokens arrive one word at a time, exactly as a real service would send them.",
    "Nothing in this reply needs the network beyond the local machine.",
    "Deterministic answers make it easy to check that no text was lost or repeated.",
)


@dataclass(frozen=True, slots=True)
class ModelScript:
    """How one model of a `FaultServer` answers when no fault gets in the way.

    `answer` is the canonical answer. When the request offers tools, the
    scripted tool calls come first, one per turn: `tool_call` (name, arguments)
    or the sequence `tool_calls`, the n-th returned once n-1 tool results follow
    the last user message; after the last one, the answer. A continuation
    request always gets the rest of the answer; `repeat_words`
    makes that rest start by repeating the last N words already given, and
    `drop_seam_space` drops its leading space - two ways real models botch a
    seam. A prompt of more estimated tokens than `context_window` is refused
    with `context_length_exceeded`.
    """

    answer: str
    tool_call: tuple[str, Mapping[str, Any]] | None = None
    repeat_words: int = 0
    drop_seam_space: bool = False
    context_window: int | None = None
    tool_calls: tuple[tuple[str, Mapping[str, Any]], ...] = ()

    def scripted_calls(self) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        """The tool calls this model makes, in order."""
        return ((self.tool_call,) if self.tool_call is not None else ()) + tuple(self.tool_calls)


def canonical_answer(model: str) -> str:
    """A deterministic answer of a few sentences (40-80 words) that names `model`."""
    seed = int.from_bytes(hashlib.sha256(model.encode()).digest()[:8], "big")
    sentences = random.Random(seed).sample(_SENTENCES, 4)
    return " ".join([f"This is {model} answering.", *sentences])


def tokenise(text: str) -> list[str]:
    """Split `text` into one-word tokens, each carrying its leading whitespace."""
    return _TOKEN.findall(text)


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message, whether its content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def estimate_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """A rough token count of a prompt: the number of words in its messages."""
    return sum(len(message_text(message).split()) for message in messages)


def continuation_of(messages: Sequence[Mapping[str, Any]], answer: str) -> str | None:
    """The part of `answer` already given, if the messages ask to continue it, else None.

    Two shapes ask for a continuation: a final assistant message (a prefill)
    that is a prefix of `answer`, and such an assistant message followed by one
    user message (a "continue where you stopped" instruction) - in that shape a
    complete answer is taken as an earlier turn, not as something to continue.
    """
    roles = [message.get("role") for message in messages]
    if roles and roles[-1] == "assistant":
        given, finished_is_fine = message_text(messages[-1]).rstrip(), True
    elif roles[-2:] == ["assistant", "user"]:
        given, finished_is_fine = message_text(messages[-2]).rstrip(), False
    else:
        return None
    if not given or not answer.startswith(given):
        return None
    if not finished_is_fine and not answer[len(given) :].strip():
        return None
    return given


def continue_answer(script: ModelScript, given: str) -> str:
    """The rest of `script.answer` after `given`, botched at the seam as scripted."""
    rest = script.answer[len(given) :]
    if script.repeat_words > 0:
        repeated = " ".join(given.split()[-script.repeat_words :])
        rest = f" {repeated}{rest}"
    return rest.lstrip() if script.drop_seam_space else rest


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model makes; `arguments` is the JSON text OpenAI sends."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Reply:
    """The reply a healthy model gives: text tokens, or a tool call in argument fragments."""

    pieces: tuple[str, ...]
    finish_reason: str
    tool_call: ToolCall | None = None
    continuation: bool = False

    @property
    def text(self) -> str:
        """The whole text (or tool-call arguments) of the reply."""
        return "".join(self.pieces)


def _tool_results_since_user(messages: Sequence[Mapping[str, Any]]) -> int:
    """How many tool results follow the last user message."""
    count = 0
    for message in reversed(messages):
        role = message.get("role")
        if role == "user":
            break
        if role == "tool":
            count += 1
    return count


def plan_reply(
    script: ModelScript,
    messages: Sequence[Mapping[str, Any]],
    *,
    has_tools: bool,
    max_tokens: int | None,
    stop: Sequence[str],
) -> Reply:
    """What a healthy model with `script` replies to `messages`."""
    given = continuation_of(messages, script.answer)
    calls = script.scripted_calls()
    done = _tool_results_since_user(messages)
    if given is None and has_tools and done < len(calls):
        name, arguments = calls[done]
        text = json.dumps(dict(arguments))
        call_id = "call_" + hashlib.sha256(f"{name}:{text}".encode()).hexdigest()[:24]
        fragments = tuple(
            text[i : i + _ARGUMENT_FRAGMENT] for i in range(0, len(text), _ARGUMENT_FRAGMENT)
        )
        return Reply(fragments, "tool_calls", ToolCall(call_id, name, text))
    text = script.answer if given is None else continue_answer(script, given)
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    if cuts:
        text = text[: min(cuts)]
    tokens = tokenise(text)
    if max_tokens is not None and len(tokens) > max_tokens:
        return Reply(tuple(tokens[:max_tokens]), "length", continuation=given is not None)
    return Reply(tuple(tokens), "stop", continuation=given is not None)
