"""One HTTP/1.1 server connection over asyncio streams, parsed with h11.

`HttpConnection` reads whole requests and writes responses - complete, chunked
and streamed, or broken on purpose: closed mid-body or reset before a byte.
Keep-alive is supported: after a finished exchange the next request is read
from the same connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from fallback_core._packages import needs_extra

with needs_extra("fallback_core.testing", "h11", "testing"):
    import h11

_READ_SIZE = 65536
_SERVER_HEADER = ("server", "fallback-chain-fault-server")


@dataclass(frozen=True, slots=True)
class Request:
    """A complete HTTP request: method, path (without query), lower-cased headers, body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HttpConnection:
    """The server side of one TCP connection, one request/response exchange at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._h11 = h11.Connection(h11.SERVER)
        self._closed = False
        self.status: int | None = None  # of the response to the current request, once sent

    @property
    def closed(self) -> bool:
        """True once the connection was closed, reset or found broken."""
        return self._closed

    async def next_request(self) -> Request | None:
        """The next complete request, or None when the client closed the connection.

        Raises h11.RemoteProtocolError on bytes that are not HTTP/1.1.
        """
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
        self.status = None
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA:
                data = await self._reader.read(_READ_SIZE)
                self._h11.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                return _request(head, bytes(body))
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    def can_continue(self) -> bool:
        """Whether the exchange ended cleanly and the connection may carry another."""
        return (
            not self._closed
            and self._h11.our_state is h11.DONE
            and self._h11.their_state is h11.DONE
        )

    async def respond(
        self, status: int, body: bytes, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Send a complete JSON response."""
        await self.start(status, [*headers, ("content-length", str(len(body)))], "application/json")
        await self.send(body)
        await self.end()

    async def start(
        self, status: int, headers: Sequence[tuple[str, str]] = (), content_type: str = ""
    ) -> None:
        """Send the status line and headers; without a content-length the body is chunked."""
        fields = [_SERVER_HEADER, *headers]
        if content_type:
            fields.append(("content-type", content_type))
        await self._write(self._h11.send(h11.Response(status_code=status, headers=fields)))
        self.status = status

    async def send(self, data: bytes) -> None:
        """Send part of the body and wait until it is handed to the network."""
        await self._write(self._h11.send(h11.Data(data=data)))

    async def end(self) -> None:
        """Finish the body (the terminating chunk, when chunked)."""
        await self._write(self._h11.send(h11.EndOfMessage()))
        if self._h11.our_state is h11.MUST_CLOSE:
            await self.close()

    async def close(self) -> None:
        """Flush what was sent and close the connection (a FIN, not a reset)."""
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    def reset(self) -> None:
        """Abort the connection with a TCP reset, dropping anything not yet sent."""
        self._closed = True
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._writer.transport.abort()

    async def wait_for_disconnect(self, seconds: float | None) -> bool:
        """Wait up to ``seconds`` (None: for good); True if the client left meanwhile."""
        try:
            async with asyncio.timeout(seconds):
                await self._read_until_eof()
        except TimeoutError:
            return False
        return True

    async def _read_until_eof(self) -> None:
        with contextlib.suppress(OSError):
            while data := await self._reader.read(_READ_SIZE):
                self._h11.receive_data(data)  # keep pipelined bytes for the next request

    async def _write(self, data: bytes | None) -> None:
        if self._closed:
            raise ConnectionResetError("the connection is closed")
        if data:
            self._writer.write(data)
            await self._writer.drain()


def _request(head: h11.Request, body: bytes) -> Request:
    target = head.target.decode("latin-1")
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in head.headers}
    return Request(head.method.decode("ascii"), target.split("?", 1)[0], headers, body)
