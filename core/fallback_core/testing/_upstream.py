"""The client side of proxy mode: one HTTP/1.1 request to the upstream server, parsed with h11.

Each forwarded request opens its own connection (sent with `Connection: close`),
so abandoning a response - a cut stream, a client gone - closes that connection
at once and the upstream stops generating. Every failure on the way (refused
connection, timeout, a body that breaks off, bytes that are not HTTP) is an
`UpstreamError`; it is never an `OSError`, which the server keeps for its own
client going away.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from urllib.parse import urlsplit

import h11

_READ_SIZE = 65536
_USER_AGENT = ("user-agent", "fallback-chain-fault-server")


class UpstreamError(Exception):
    """The upstream server could not be reached, or its response broke off."""


class Upstream:
    """An OpenAI-compatible server that a proxying `FaultServer` forwards requests to.

    `base_url` is its OpenAI base URL (`http://127.0.0.1:8080/v1`; https works
    too); `models` maps the fault server's model names to the upstream's (a
    name not in it is forwarded as it is). `timeout` bounds the connect and
    each wait for upstream bytes, generous enough for a slow local model.
    """

    def __init__(
        self, base_url: str, models: Mapping[str, str] | None = None, *, timeout: float = 300.0
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the upstream must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url
        self.models = dict(models or {})
        self.timeout = timeout
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls else 80)
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")

    def model_for(self, name: str) -> str:
        """The upstream's name for the fault server's model `name`."""
        return self.models.get(name, name)

    async def post(
        self, path: str, body: bytes, headers: Sequence[tuple[str, str]] = ()
    ) -> UpstreamResponse:
        """POST `body` to `path` under the base URL; return once the response head is in."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self._host, self._port, ssl=ssl.create_default_context() if self._tls else None
                ),
                self.timeout,
            )
        except (TimeoutError, OSError) as exc:
            raise UpstreamError(f"cannot connect to {self.base_url}: {exc!r}") from exc
        response = UpstreamResponse(reader, writer, self.timeout)
        fields = [
            ("host", self._netloc),
            _USER_AGENT,
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            ("connection", "close"),
            *headers,
        ]
        try:
            await response.send(
                h11.Request(method="POST", target=self._prefix + path, headers=fields)
            )
            await response.send(h11.Data(data=body))
            await response.send(h11.EndOfMessage())
            await response.read_head()
        except BaseException:
            response.close()
            raise
        return response


class UpstreamResponse:
    """An upstream response being read: its status and headers, then its body as it comes."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._timeout = timeout
        self._h11 = h11.Connection(h11.CLIENT)
        self.status = 0
        self.headers: dict[str, str] = {}

    async def send(self, event: h11.Event) -> None:
        """Send one part of the request."""
        try:
            data = self._h11.send(event)
            if data:
                self._writer.write(data)
                await asyncio.wait_for(self._writer.drain(), self._timeout)
        except (TimeoutError, OSError, h11.ProtocolError) as exc:
            raise UpstreamError(f"sending the request upstream failed: {exc!r}") from exc

    async def read_head(self) -> None:
        """Read up to the status line and headers."""
        event = await self._next()
        while isinstance(event, h11.InformationalResponse):
            event = await self._next()
        if not isinstance(event, h11.Response):
            raise UpstreamError(f"the upstream closed the connection without answering ({event})")
        self.status = event.status_code
        self.headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers
        }

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, piece by piece as it arrives; raises UpstreamError if it breaks off."""
        while True:
            event = await self._next()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            else:
                raise UpstreamError(f"the upstream response broke off ({event})")

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([chunk async for chunk in self.chunks()])

    def close(self) -> None:
        """Drop the connection at once (the upstream sees it go)."""
        with contextlib.suppress(OSError, RuntimeError):
            self._writer.transport.abort()

    async def _next(self) -> object:
        """The next h11 event of the response (an Event, or h11.PAUSED)."""
        try:
            while (event := self._h11.next_event()) is h11.NEED_DATA:
                data = await asyncio.wait_for(self._reader.read(_READ_SIZE), self._timeout)
                self._h11.receive_data(data)
        except TimeoutError as exc:
            raise UpstreamError(f"no bytes from the upstream for {self._timeout:g} s") from exc
        except (OSError, h11.ProtocolError) as exc:
            raise UpstreamError(f"reading the upstream response failed: {exc!r}") from exc
        return event
