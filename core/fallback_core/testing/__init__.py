"""A local OpenAI-compatible (and Anthropic-compatible) server whose models fail on cue.

    from fallback_core.testing import Fault, FaultServer, ModelScript

    with FaultServer({"primary": ModelScript("The quick brown fox ...")}) as server:
        server.set_fault("primary", Fault.cut_after(5))
        ...  # point any OpenAI client at server.base_url
        assert server.attempt_count("primary") == 1

The same server speaks Anthropic's Messages API at `FaultServer.anthropic_base_url`
(`POST /v1/messages`, streamed or not, as the `anthropic` SDK and the
integrations built on it expect): the same models, faults and attempts log,
with Anthropic's error bodies (`request-id` and `retry-after` headers), its
event sequence, `tool_use` blocks, and its rule that a final assistant message
(a prefill) must not end with whitespace. `error_event` breaks a stream the
way a provider under load does: Anthropic's `event: error` (`overloaded_error`)
after a 200, OpenAI's `{"error": ...}` chunk.

Every model answers with a known canonical text (`FaultServer.answer_for`;
models not configured share `CANONICAL_ANSWER`, or the server's `answer`), and
a request that continues a prefix of that text gets exactly the rest, so a
test can check that a broken answer was finished without loss or repetition:
with one answer shared by every model, the caller's text equals it exactly.

Backups that misbehave. What a model does with a continuation request is its
`Backup` behaviour, set per model (`FaultServer(backups=...)`,
`set_backup("backup", Backup.restart())`, `serve --backup backup=restart`) or
per request with an `X-Backup` header (on either API; on the Messages API a
continuation is a prefill), in the text form `parse_backup` reads:

    X-Backup: obey                 the exact rest (the default)
    X-Backup: restart              the whole answer again, verbatim
    X-Backup: preface              "Sure! Here is the whole answer again." and the answer
    X-Backup: reword               the first three words, then other wording
    X-Backup: overlap=3            the last 3 words given again, then the rest
    X-Backup: overlap=sentence     the sentence the given text stops in, then the rest
    X-Backup: strip                the rest after the given text's trailing whitespace
                                   is stripped, so that whitespace comes again
    X-Backup: empty                no text at all
    X-Backup: vllm                 continues a prefill only with continue_final_message
                                   (and add_generation_prompt false), else starts over

Tools and JSON. A model makes its scripted tool calls (`ModelScript.tool_call`,
`tool_calls`) when tools are offered; one without a scripted call left calls a
tool itself when `tool_choice` demands it ("required" or a named function), or
whenever tools are offered if scripted with `tool_call="auto"` - once per user
turn, then it answers; `tool_choice` "none" forbids every call. It calls the
named tool, else the first. A request with `response_format` `json_schema` or
`json_object` gets JSON text: the answer if it is a JSON object, else an
object built from the request. Built values depend only on the request - so
one model can continue another's broken JSON - and are read off the last
user message:

    integer, number     the first number in it, else 0
    string              the first '...' or "..." quoted text, else "fallback"
    boolean, array      true, []
    object              every property, by these rules (`$ref`s resolved)
    enum, const         the first allowed value
    anyOf, oneOf, ...   the first branch that is not null
    json_object         its quoted texts as keys, each holding "fallback"
                        (none quoted: {"answer": <the canonical answer>})

Faults can also be chosen for a single request with an `X-Fault` header, in
the text form that `parse_fault` reads: `name` or `name=arg,arg,...` (`:` works
in place of `=`), an argument being a positional value or `key=value`.

    X-Fault: rate_limit                  429 (args: retry_after, retry_after_ms)
    X-Fault: rate_limit=retry_after=2    429 with Retry-After: 2
    X-Fault: server_error=503            5xx (arg: status)
    X-Fault: reset_before_headers        TCP reset before any response byte
    X-Fault: no_response                 never answers
    X-Fault: slow_first_token=0.5        (arg: delay)
    X-Fault: cut_after=5                 (arg: n)
    X-Fault: stall_after=3,0.5           (args: n, seconds; no seconds: for good)
    X-Fault: malformed_chunk=2           (arg: after)
    X-Fault: missing_done
    X-Fault: error_event=3,529           (args: after, status)
    X-Fault: context_length_exceeded | content_policy | reject_prefill

A header fault replaces the model's fault for that request only and leaves the
model's fault counters alone; `flapping` and `+`-joined sequences span several
attempts, so they are refused in a header (400) and belong in `set_fault` or
on the command line (`python -m fallback_core.testing serve --help`).

Proxy mode puts the same faults in front of a real model. Given `upstream`,
an OpenAI base URL, the server forwards each request its fault lets through
and relays the answer - a stream event by event as it arrives - with the
fault applied on the way, exactly as to a scripted answer:

    with FaultServer(
        upstream="http://127.0.0.1:8080/v1",  # e.g. python -m llama_cpp.server
        upstream_models={"primary": "gemma-3-270m", "backup": "gemma-3-270m"},
    ) as proxy:
        proxy.set_fault("primary", Fault.cut_after(8))  # 8 real chunks, then a dropped connection
        ...
        partial = proxy.attempts("primary")[0].text_sent  # what the model said before the cut

Refusals and resets strike before anything is forwarded; answers carry the
model name the client asked for; an upstream error status is passed on, an
unreachable upstream is a 502. Command line: `serve --upstream URL
--upstream-model NAME=UPSTREAM_NAME`.
"""

from __future__ import annotations

from fallback_core._packages import needs_extra as _needs_extra

with _needs_extra("fallback_core.testing", "h11", "testing"):
    import h11 as _h11  # noqa: F401 - the fault server's HTTP parser

from fallback_core.testing._answers import CANONICAL_ANSWER, ModelScript
from fallback_core.testing._backups import Backup, parse_backup
from fallback_core.testing._faults import Fault, parse_fault
from fallback_core.testing._log import AttemptRecord
from fallback_core.testing._server import FaultServer

__all__ = [
    "CANONICAL_ANSWER",
    "AttemptRecord",
    "Backup",
    "Fault",
    "FaultServer",
    "ModelScript",
    "parse_backup",
    "parse_fault",
]
