"""Reasoning on the wire: Anthropic's signed thinking blocks and OpenAI-compatible content rules.

Anthropic (extended thinking, `thinking: {"type": "enabled", "budget_tokens": N}`)
streams a `thinking` content block (`thinking_delta` per token, then one
`signature_delta`) before the text. The signature is the API's seal over the
thinking text *for the model that wrote it*: a replayed block whose signature
the server did not issue for the request's model - edited, merged, or from
another model or provider - is refused with 400 "messages.i.content.j: Invalid
`signature` in `thinking` block", as api.anthropic.com does (see
anthropics/anthropic-sdk-python#1598). With thinking enabled the final
assistant turn - a prefill, or the turn whose tool calls the last user
message answers - must start with a thinking block. A block type the installed
`anthropic` SDK does not declare for a request's content is refused: the lab
takes the provider's own word for what the Messages API accepts, never the
library's (a test against the library's list could not catch a mistake in it).

OpenAI's chat completions refuse an assistant content part that is not
`text` or `refusal` (so a replayed `thinking` block is a 400) and any key a
part does not define (so Anthropic's `cache_control`); reasoning servers
(vLLM, DeepSeek, llama.cpp) stream their thinking as `delta.reasoning_content`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from fallback_core.testing._openai import BadRequest

_SECRET = os.urandom(32)
_THINKING = ("thinking", "redacted_thinking")
_FIRST_THINKING = (
    "When `thinking` is enabled, a final `assistant` message must start with a thinking block "
    "(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you "
    "include thinking blocks from previous turns. To avoid this requirement, disable thinking. "
    "Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)
_OPENAI_PARTS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    # role: (part types, keys a part may have)
    "assistant": (frozenset({"text", "refusal"}), frozenset({"type", "text", "refusal"})),
    "user": (
        frozenset({"text", "image_url", "input_audio", "file"}),
        frozenset({"type", "text", "image_url", "input_audio", "file"}),
    ),
    "system": (frozenset({"text"}), frozenset({"type", "text"})),
    "developer": (frozenset({"text"}), frozenset({"type", "text"})),
    "tool": (frozenset({"text"}), frozenset({"type", "text"})),
}


def signature(model: str, thinking: str) -> str:
    """The signature the server issues for `thinking` written by `model`."""
    mac = hmac.new(_SECRET, f"{model}\0{thinking}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def thinking_budget(data: Mapping[str, Any], max_tokens: int) -> int | None:
    """The request's thinking budget (None: thinking off); refused where the API refuses it."""
    thinking = data.get("thinking")
    if thinking is None or (isinstance(thinking, dict) and thinking.get("type") == "disabled"):
        return None
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        raise BadRequest("thinking.type: Input should be 'enabled' or 'disabled'")
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1024:
        raise BadRequest(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        )
    if budget >= max_tokens:
        raise BadRequest("`max_tokens` must be greater than `thinking.budget_tokens`.")
    return budget


def check_anthropic_blocks(
    model: str, messages: Sequence[Mapping[str, Any]], *, thinking: bool
) -> None:
    """Refuse unknown blocks, foreign thinking signatures and a final turn that skips thinking."""
    for i, message in enumerate(messages):
        content = message.get("content")
        for j, block in enumerate(content if isinstance(content, list) else ()):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind not in block_types():
                expected = ", ".join(f"'{t}'" for t in block_types())
                raise BadRequest(
                    f"messages.{i}.content.{j}: Input tag '{kind}' found using 'type' does not "
                    f"match any of the expected tags: {expected}"
                )
            if kind in _THINKING and message.get("role") != "assistant":
                raise BadRequest(
                    f"messages.{i}.content.{j}: thinking blocks belong to assistant turns"
                )
            if kind in _THINKING and not _issued(model, block):
                raise BadRequest(f"messages.{i}.content.{j}: Invalid `signature` in `{kind}` block")
    if thinking:
        _check_final_turn(messages)


@functools.cache
def block_types() -> tuple[str, ...]:
    """The content block types the ``anthropic`` SDK declares for a request (its beta API's).

    Read from the SDK's ``BetaContentBlockParam`` (the widest set: MCP blocks
    are beta), so the lab accepts what the installed SDK can send.
    """
    try:
        from anthropic.types.beta import BetaContentBlockParam
    except ImportError as exc:
        raise BadRequest(
            "the fault server reads the Messages API's content block types from the anthropic "
            f"SDK, which is not installed ({exc}): pip install anthropic",
            status=500,
            type="api_error",
        ) from exc
    return tuple(dict.fromkeys(_type_tags(BetaContentBlockParam)))


def _type_tags(shape: object) -> list[str]:
    """The ``type`` literals of ``shape``: a block class or a (maybe annotated) union of them."""
    if typing.get_origin(shape) is typing.Annotated:
        return _type_tags(typing.get_args(shape)[0])
    if isinstance(shape, type):  # a TypedDict to send, or a pydantic model the API sent
        fields = getattr(shape, "model_fields", None)
        tag = fields["type"].annotation if fields else typing.get_type_hints(shape)["type"]
        return list(typing.get_args(tag))
    return [tag for member in typing.get_args(shape) for tag in _type_tags(member)]


def redacted_data(model: str, secret_thinking: str) -> str:
    """The opaque `data` of a `redacted_thinking` block the server issues for `model`."""
    return (
        base64.b64encode(secret_thinking.encode()).decode()
        + "."
        + signature(model, secret_thinking)
    )


def _issued(model: str, block: Mapping[str, Any]) -> bool:
    """Whether the server issued this thinking (or redacted thinking) block for `model`."""
    if block.get("type") == "thinking":
        thinking, seal = block.get("thinking"), block.get("signature")
    else:
        data = block.get("data")
        encoded, _, seal = data.partition(".") if isinstance(data, str) else ("", "", None)
        try:
            thinking = base64.b64decode(encoded, validate=True).decode()
        except ValueError:
            return False
    if not isinstance(thinking, str) or not isinstance(seal, str):
        return False
    return hmac.compare_digest(seal, signature(model, thinking))


def _check_final_turn(messages: Sequence[Mapping[str, Any]]) -> None:
    """With thinking on, the assistant turn being continued must open with a thinking block."""
    if not messages:
        return
    last = messages[-1]
    if last.get("role") == "assistant":
        index = len(messages) - 1
    elif _has_block(last, "tool_result") and len(messages) > 1:
        index = len(messages) - 2
    else:
        return
    content = messages[index].get("content")
    blocks = content if isinstance(content, list) else [{"type": "text"}]
    first = blocks[0].get("type") if blocks and isinstance(blocks[0], dict) else "text"
    if first not in _THINKING:
        raise BadRequest(
            f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, "
            f"but found `{first}`. {_FIRST_THINKING}"
        )


def _has_block(message: Mapping[str, Any], kind: str) -> bool:
    content = message.get("content")
    blocks = content if isinstance(content, list) else ()
    return any(isinstance(b, dict) and b.get("type") == kind for b in blocks)


def check_openai_parts(messages: Sequence[Mapping[str, Any]]) -> None:
    """Refuse content parts OpenAI's chat completions do not define, as api.openai.com does."""
    for i, message in enumerate(messages):
        content = message.get("content")
        allowed = _OPENAI_PARTS.get(str(message.get("role")))
        if allowed is None or not isinstance(content, list):
            continue
        types, keys = allowed
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in types:
                supported = ", ".join(f"'{t}'" for t in sorted(types))
                raise BadRequest(
                    f"Invalid value: '{kind}'. Supported values are: {supported}.",
                    param=f"messages[{i}].content[{j}].type",
                    code="invalid_value",
                )
            extra = sorted(set(part) - keys)
            if extra:
                where = f"messages[{i}].content[{j}].{extra[0]}"
                raise BadRequest(
                    f"Unrecognized request argument supplied: {where}",
                    param=where,
                    code="unknown_parameter",
                )
