"""Backup behaviours on the Messages API: a prefill is a continuation, misbehaved as set.

The same `Backup` rules as on chat completions (`test_backups.py`), read from
the `X-Backup` header or `set_backup`, checked with the real `anthropic` SDK.
"""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from fallback_core.testing import Backup, FaultServer, parse_backup
from fallback_core.testing._backups import PREFACE, REWORDING

from .conftest import PRIMARY_ANSWER
from .test_anthropic import HI, Client, client  # noqa: F401  (the sync/async SDK fixture)

GIVEN = "The quick brown fox jumps"  # a prefill: no trailing whitespace, as the API demands
REST = PRIMARY_ANSWER[len(GIVEN) :]


def prefill(given: str = GIVEN) -> list[dict[str, Any]]:
    return [*HI, {"role": "assistant", "content": given}]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("obey", REST),
        ("restart", PRIMARY_ANSWER),
        ("preface", PREFACE + PRIMARY_ANSWER),
        ("reword", "The quick brown" + REWORDING + PRIMARY_ANSWER[len("The quick brown") :]),
        ("overlap=2", " fox jumps" + REST),
        ("empty", ""),
        ("vllm", PRIMARY_ANSWER),  # no continue_final_message on this API: it starts over
    ],
)
async def test_a_prefill_gets_the_behaviour_the_header_names(
    client: Client,  # noqa: F811
    fault_server: FaultServer,
    spec: str,
    expected: str,
) -> None:
    """`X-Backup` on a Messages request: whole and streamed, logged with what was given."""
    headers = {"X-Backup": spec}
    whole = await client.create(messages=prefill(), extra_headers=headers)
    seen = await client.stream(messages=prefill(), extra_headers=headers)

    assert "".join(b.text for b in whole.content if b.type == "text") == expected
    assert (seen.error, seen.text) == (None, expected)
    assert (whole.stop_reason, seen.events[-2].delta.stop_reason) == ("end_turn", "end_turn")
    records = fault_server.attempts("primary")
    name = str(parse_backup(spec))
    assert [(r.continuation, r.backup, r.given) for r in records] == [(True, name, GIVEN)] * 2


async def test_set_backup_holds_for_messages_requests_and_a_header_overrides_it(
    client: Client,  # noqa: F811
    fault_server: FaultServer,
) -> None:
    """A model's behaviour applies on the Messages API too, until a request's header says else."""
    fault_server.set_backup("primary", Backup.restart())
    restarted = await client.create(messages=prefill())
    obeyed = await client.create(messages=prefill(), extra_headers={"X-Backup": "obey"})
    fresh = await client.create()  # not a continuation: the behaviour does not apply

    assert restarted.content[0].text == PRIMARY_ANSWER
    assert obeyed.content[0].text == REST
    assert fresh.content[0].text == PRIMARY_ANSWER
    records = fault_server.attempts("primary")
    logged = [(r.backup, r.given) for r in records]
    assert logged == [("restart", GIVEN), ("obey", GIVEN), (None, "")]


async def test_a_bad_backup_header_is_the_apis_own_400(client: Client) -> None:  # noqa: F811
    """An unknown behaviour is refused in Anthropic's error shape, naming the header."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.create(messages=prefill(), extra_headers={"X-Backup": "rewind"})

    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "x-backup" in str(caught.value.body["error"]["message"]).lower()
    assert caught.value.request_id is not None
