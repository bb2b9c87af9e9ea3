"""Sending one reply to the client with the attempt's fault applied on the way.

A reply reaches `Delivery` either as one JSON body or as a sequence of
server-sent events, each tagged with its part in the stream: a token (a
content or tool-call chunk), a closing event (the finish chunk, the usage
chunk), `[DONE]`, or anything else. A scripted model's reply and a reply
relayed from an upstream server are delivered by the same code, so every
fault acts on both alike: `cut_after=5` closes the connection after the fifth
token whoever wrote it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from typing import Literal

from fallback_core.testing._faults import Fault
from fallback_core.testing._http import HttpConnection
from fallback_core.testing._log import Attempt
from fallback_core.testing._openai import MALFORMED_EVENT

EventKind = Literal["token", "closing", "done", "other"]
_SSE_HEADERS = [("cache-control", "no-cache")]


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event, as bytes for the wire, with what it means to the stream.

    `token`: a chunk carrying content or a tool call; faults count these.
    `closing`: the finish or usage chunk; the first one marks the end of the
    answer. `text` is the content an event carries (a finish chunk may carry
    the last of it). `done`: the `data: [DONE]` event. `other`:
    anything else (a role-only chunk), passed on as it is.
    """

    kind: EventKind
    data: bytes
    text: str = ""


class Delivery:
    """Sends one reply to `conn` with `fault` (if any) applied, recording it on `attempt`.

    `malformed` and `error_event` are the protocol's garbled event and its
    mid-stream error event (what `malformed_chunk` and `error_event` send).
    """

    def __init__(
        self,
        conn: HttpConnection,
        fault: Fault | None,
        attempt: Attempt,
        token_delay: float = 0.0,
        *,
        malformed: bytes = MALFORMED_EVENT,
        error_event: bytes = b"",
    ) -> None:
        self.malformed = malformed
        self.error_event = error_event
        self.conn = conn
        self.attempt = attempt
        self.fault_name = fault.name if fault else None
        self.seconds = fault.seconds if fault else None
        self.after = fault.after if fault else None
        self.token_delay = token_delay

    async def whole(
        self, body: bytes, tokens: int, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Deliver a reply of `tokens` tokens as the JSON `body`.

        With a token delay the body waits as long as streaming its tokens would
        take: a model generates the same tokens whether it streams them or not.
        """
        if self.fault_name in ("slow_first_token", "stall_after") and await self._pause():
            return
        if self.token_delay > 0:
            await asyncio.sleep(self.token_delay * tokens)
        if self.fault_name == "malformed_chunk":
            body = b"{not json"
        self.attempt.status = 200
        if self.fault_name == "cut_after":
            length = ("content-length", str(len(body)))
            await self.conn.start(200, [*headers, length], "application/json")
            await self.conn.send(body[: len(body) // 2])
            self.attempt.finish("cut")
            await self.conn.close()
            return
        self.attempt.tokens_sent = tokens
        self.attempt.finish("completed")
        await self.conn.respond(200, body, headers)

    async def stream(
        self, events: AsyncIterable[Event], headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Deliver `events` as a server-sent-event stream, striking at the fault's token."""
        conn, attempt = self.conn, self.attempt
        attempt.status = 200
        await conn.start(200, [*_SSE_HEADERS, *headers], "text/event-stream; charset=utf-8")
        if self.fault_name == "slow_first_token" and await self._pause():
            return
        sent, ended = 0, False
        async for event in events:
            if event.kind == "token" and not ended:
                if sent == self.after and not await self._strike():
                    return
                await conn.send(event.data)
                sent += 1
                attempt.tokens_sent, attempt.text_sent = sent, attempt.text_sent + event.text
                if self.token_delay > 0:
                    await asyncio.sleep(self.token_delay)
                continue
            if event.kind in ("closing", "done") and not ended:
                if not await self._end(sent):
                    return
                ended = True
            if event.kind != "done" or self.fault_name != "missing_done":
                await conn.send(event.data)
                attempt.text_sent += event.text
        if not ended and not await self._end(sent):
            return
        await conn.end()
        if self.fault_name == "missing_done":
            await conn.close()

    async def _end(self, sent: int) -> bool:
        """The answer is over: strike a fault still due, then mark it complete; False if cut."""
        if self.after is not None and self.after >= sent and not await self._strike():
            return False
        self.attempt.finish("completed")
        return True

    async def _pause(self) -> bool:
        """Send nothing for the fault's seconds (None: for good); True if the client left."""
        if await self.conn.wait_for_disconnect(self.seconds):
            self.attempt.finish("client_gone")
            return True
        return False

    async def _strike(self) -> bool:
        """Apply a mid-stream fault at its token; False if the stream ends here."""
        if self.fault_name == "cut_after":
            self.attempt.finish("cut")
            await self.conn.close()
            return False
        if self.fault_name == "stall_after":
            return not await self._pause()
        if self.fault_name == "malformed_chunk":
            await self.conn.send(self.malformed)
        if self.fault_name == "error_event":
            self.attempt.finish("error_event")
            await self.conn.send(self.error_event)
            await self.conn.end()
            return False
        return True
