"""What a healthy scripted model says: canonical answers, tokens and continuations.

Every model has one canonical answer - by default `CANONICAL_ANSWER`, shared
by every model of a server. `plan_reply` turns a request into the reply the
model gives - the answer (or, for a continuation request, what its `Backup`
behaviour makes of it), JSON when the request asks for it, a tool call, cut by
`stop` and `max_tokens` - so that faults only ever change how that reply is
delivered, never what it is.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from fallback_core.testing._backups import OBEY, Ask, Backup, rest_after
from fallback_core.testing._reading import arguments_for, call_required, chosen_tool, json_answer

# A word with the spaces before it; a run of newlines is a token of its own, as tokenizers do.
_TOKEN = re.compile(r"\n+|[^\S\n]*\S+|[^\S\n]+")
_ARGUMENT_FRAGMENT = 8  # characters of tool-call arguments per streamed chunk

CANONICAL_ANSWER = (
    "Fallback chains keep a pipeline answering when one provider stumbles. Each model in "
    "the chain is tried in order until one of them succeeds.\n\n"
    "A stream that breaks halfway is picked up by the next model in line, which continues "
    "from the exact word where it stopped. The caller sees one answer and never needs to "
    "know which model wrote it."
)
"""The answer every model of a `FaultServer` gives unless scripted otherwise: two paragraphs."""


@dataclass(frozen=True, slots=True)
class ModelScript:
    """How one model of a `FaultServer` answers when no fault gets in the way.

    `answer` is the canonical answer. A request whose `response_format` asks
    for JSON gets `answer` if it is a JSON object, else an object built from
    the request (the rules are in the `fallback_core.testing` docstring),
    streamed word by word like any answer.

    When the request offers tools (and `tool_choice` is not "none"), the
    scripted tool calls come first, one per turn: `tool_call` (name,
    arguments) or the sequence `tool_calls`, the n-th returned once n-1 tool
    results follow the last user message; after the last one, the answer.
    A model with no scripted call left calls a tool on its own in a turn that
    has no tool result yet when `tool_choice` demands a call ("required" or a
    named function) - or, with `tool_call="auto"`, whenever tools are
    offered: the named tool, else the first, with arguments built from its
    JSON schema and the last user message by the same rules.

    A continuation request gets what the server's `Backup` behaviour for the
    model makes of it - by default the rest of the answer, where `repeat_words`
    makes that rest start by repeating the last N words already given and
    `drop_seam_space` drops its leading space (two ways real models botch a
    seam). A prompt of more estimated tokens than `context_window` is refused
    with `context_length_exceeded`.

    A model with `reasoning` thinks before every reply (a continuation too):
    OpenAI-compatible streams carry it as `delta.reasoning_content`, as vLLM
    and DeepSeek send it; the Messages API as a signed `thinking` block when
    the request turns thinking on (see `_thinking`).
    """

    answer: str
    tool_call: tuple[str, Mapping[str, Any]] | Literal["auto"] | None = None
    repeat_words: int = 0
    drop_seam_space: bool = False
    context_window: int | None = None
    tool_calls: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    reasoning: str = ""
    """What the model thinks before each reply, streamed ahead of it (empty: not a reasoner)."""

    def __post_init__(self) -> None:
        if isinstance(self.tool_call, str) and self.tool_call != "auto":
            message = f"tool_call must be (name, arguments) or 'auto', got {self.tool_call!r}"
            raise ValueError(message)

    def scripted_calls(self) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        """The tool calls this model makes, in order, before any call of its own."""
        first = (self.tool_call,) if isinstance(self.tool_call, tuple) else ()
        return first + tuple(self.tool_calls)


def tokenise(text: str) -> list[str]:
    """Split `text` into tokens: words with their leading spaces, and runs of newlines."""
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


def prompt_of(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the last user message: what the model reads numbers and quotes from."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def answer_to(
    script: ModelScript,
    messages: Sequence[Mapping[str, Any]],
    response_format: Mapping[str, Any] | None = None,
) -> str:
    """The whole answer `script` gives `messages`: JSON when `response_format` asks for it."""
    if response_format is None or _is_json_object(script.answer):
        return script.answer
    built = json_answer(response_format, prompt_of(messages), script.answer)
    return script.answer if built is None else built


def continuation_of(
    messages: Sequence[Mapping[str, Any]],
    answer_for: Callable[[Sequence[Mapping[str, Any]]], str],
) -> Ask | None:
    """The request to continue an answer the messages make, if they make one.

    Two shapes ask for a continuation: a final assistant message (a prefill)
    that is a prefix of the answer (trailing whitespace aside), and such an
    assistant message followed by one user message (a "continue where you
    stopped" instruction) - in that shape a complete answer is taken as an
    earlier turn, not as something to continue. The answer is the one
    `answer_for` gives the messages before the partial one, the question being
    continued.
    """
    roles = [message.get("role") for message in messages]
    if roles and roles[-1] == "assistant":
        question, given, prefill = messages[:-1], message_text(messages[-1]), True
    elif roles[-2:] == ["assistant", "user"]:
        question, given, prefill = messages[:-2], message_text(messages[-2]), False
    else:
        return None
    if not given.strip():
        return None
    answer = answer_for(question)
    if not answer.startswith(given.rstrip()):
        return None
    if not prefill and not rest_after(answer, given).strip():
        return None
    return Ask(answer, given, prefill)


def continue_answer(script: ModelScript, answer: str, given: str) -> str:
    """The rest of `answer` after `given`, botched at the seam as `script` says."""
    rest = rest_after(answer, given)
    if script.repeat_words > 0:
        repeated = " ".join(given.split()[-script.repeat_words :])
        rest = f" {repeated}{rest}"
    return rest.lstrip() if script.drop_seam_space else rest


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


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
    stop_sequence: str | None = None
    """The stop sequence that ended the answer early, if one did."""
    given: str = ""
    """For a continuation: the partial answer the request carried."""
    reasoning: tuple[str, ...] = ()
    """The tokens of the model's reasoning, sent before the reply."""

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


def tool_call_for(
    script: ModelScript,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]],
    tool_choice: object = None,
) -> tuple[str, Mapping[str, Any]] | None:
    """The tool call (name, arguments) `script` makes in reply to `messages`, if any."""
    if not tools or tool_choice == "none":
        return None
    calls = script.scripted_calls()
    done = _tool_results_since_user(messages)
    if done < len(calls):
        return calls[done]
    if done > 0 or not (script.tool_call == "auto" or call_required(tool_choice)):
        return None
    chosen = chosen_tool(tools, tool_choice)
    if chosen is None:
        return None
    name, parameters = chosen
    return name, arguments_for(parameters, prompt_of(messages))


def plan_reply(
    script: ModelScript,
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Mapping[str, Any]] = (),
    tool_choice: object = None,
    response_format: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
    backup: Backup = OBEY,
    flags: Mapping[str, bool] | None = None,
) -> Reply:
    """What a model with `script` replies to `messages` (a request's other fields).

    A continuation request is answered as `backup` says; ``flags`` are the
    request's ``continue_final_message`` / ``add_generation_prompt``, if set.
    A reasoning model thinks afresh before every reply, a continuation too.
    Raises `BackupRefusal` for a request the backup's server refuses.
    """
    reply = _plan(
        script, messages, tools, tool_choice, response_format, max_tokens, stop, backup, flags
    )
    return replace(reply, reasoning=tuple(tokenise(script.reasoning)))


def _plan(
    script: ModelScript,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]],
    tool_choice: object,
    response_format: Mapping[str, Any] | None,
    max_tokens: int | None,
    stop: Sequence[str],
    backup: Backup,
    flags: Mapping[str, bool] | None,
) -> Reply:
    continued = continuation_of(
        messages, lambda question: answer_to(script, question, response_format)
    )
    if continued is None:
        call = tool_call_for(script, messages, tools, tool_choice)
        if call is not None:
            return _call_reply(*call)
        text = answer_to(script, messages, response_format)
    elif backup.name == "obey":
        text = continue_answer(script, continued.answer, continued.given)
    else:
        flags = flags or {}
        text = backup.reply(
            replace(
                continued,
                continue_final_message=flags.get("continue_final_message", False),
                add_generation_prompt=flags.get("add_generation_prompt", True),
            )
        )
    cuts = [(i, s) for s in stop if s and (i := text.find(s)) >= 0]
    if cuts:
        text = text[: min(cuts)[0]]
    tokens = tokenise(text)
    continuation = continued is not None
    given = continued.given if continued is not None else ""
    if max_tokens is not None and len(tokens) > max_tokens:
        return Reply(tuple(tokens[:max_tokens]), "length", continuation=continuation, given=given)
    stopped_by = min(cuts)[1] if cuts else None
    return Reply(
        tuple(tokens), "stop", continuation=continuation, given=given, stop_sequence=stopped_by
    )


def _call_reply(name: str, arguments: Mapping[str, Any]) -> Reply:
    text = json.dumps(dict(arguments), ensure_ascii=False)
    call_id = "call_" + hashlib.sha256(f"{name}:{text}".encode()).hexdigest()[:24]
    fragments = tuple(
        text[i : i + _ARGUMENT_FRAGMENT] for i in range(0, len(text), _ARGUMENT_FRAGMENT)
    )
    return Reply(fragments, "tool_calls", ToolCall(call_id, name, text))
