"""This project's one vcrpy configuration: where cassettes live and what a recording keeps.

The replay tests (through pytest-recording's ``vcr_config`` fixture) and
``scripts/record_cassettes.py`` both take their settings from `vcr_config`,
so a cassette is written and read under the same rules:

- Cassettes live under the top-level ``cassettes/`` folder (`CASSETTES`).
- The default record mode is ``"none"``: a request missing from its cassette
  is refused, never sent.
- A request is matched on method, scheme, host, port, path, query and body
  (JSON bodies compared as JSON), so each hop's request - and each retry of
  it, in order - gets its own recorded response.
- No port is recorded. The fault server listens on a port picked afresh each
  time, so every loopback origin (``127.0.0.1``, ``localhost``, ``::1``, any
  port) is stored as `FAULT_SERVER_HOST`, the ``Host`` header included.
  vcrpy applies the same rewrite to each request it is asked to replay, so a
  cassette replays whatever port the clients name; the replay tests point
  them at `FAULT_SERVER_URL`, a name that can never resolve.
- Credentials never reach a file: the ``Authorization`` and API-key headers
  and key-like query parameters are dropped, response headers that identify
  an account (``openai-organization``, ``set-cookie``, ...) too, the clients'
  machine fingerprint (``x-stainless-*``) is left out, and any key-shaped
  string left in a header or a body is replaced by ``REDACTED``
  (`tests.cassettes.keyscan.scrub`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vcr.request import Request

from tests.cassettes.keyscan import scrub

__all__ = [
    "CASSETTES",
    "FAULT_SERVER_HOST",
    "FAULT_SERVER_URL",
    "canonical_request",
    "scrubbed_response",
    "vcr_config",
]

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
FAULT_SERVER_HOST = "fault-server.invalid"
FAULT_SERVER_URL = f"http://{FAULT_SERVER_HOST}/v1"

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
FILTERED_HEADERS = (
    "authorization",
    "proxy-authorization",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
    "anthropic-api-key",
    "openai-organization",
    "openai-project",
    "cookie",
)
FILTERED_QUERY_PARAMETERS = ("api_key", "api-key", "apikey", "key", "access_token", "token")
_DROPPED_RESPONSE_HEADERS = frozenset(
    {"set-cookie", "openai-organization", "openai-project", "anthropic-organization-id"}
)
_FINGERPRINT_PREFIX = "x-stainless-"


def canonical_request(request: Request) -> Request:
    """`request` as a cassette stores it: fault-server origin, no fingerprint, keys scrubbed.

    vcrpy hands this hook a copy, after the header and query filters, both
    when it records a request and when it looks one up for replay.
    """
    parsed = request.parsed_uri
    if parsed.hostname in _LOOPBACK:
        request.uri = parsed._replace(netloc=FAULT_SERVER_HOST).geturl()
        if "host" in request.headers:
            request.headers["host"] = FAULT_SERVER_HOST
    for name in [n for n in request.headers if n.lower().startswith(_FINGERPRINT_PREFIX)]:
        del request.headers[name]
    for name, value in list(request.headers.items()):
        if isinstance(value, str):
            request.headers[name] = scrub(value)
    request.body = _scrubbed_body(request.body)
    return request


def scrubbed_response(response: dict[str, Any]) -> dict[str, Any]:
    """`response` (vcrpy's dict) without account headers, and with key-shaped strings scrubbed."""
    headers = response.get("headers", {})
    response["headers"] = {
        name: [scrub(value) if isinstance(value, str) else value for value in values]
        for name, values in headers.items()
        if name.lower() not in _DROPPED_RESPONSE_HEADERS
    }
    body = response.get("body", {})
    if "string" in body:
        body["string"] = _scrubbed_body(body["string"])
    return response


def _scrubbed_body(body: Any) -> Any:
    if isinstance(body, str):
        return scrub(body)
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body
        cleaned = scrub(text)
        return body if cleaned == text else cleaned.encode("utf-8")
    return body


def vcr_config(record_mode: str = "none") -> dict[str, Any]:
    """Keyword arguments for ``vcr.VCR`` / ``use_cassette``: this project's recording rules."""
    return {
        "cassette_library_dir": str(CASSETTES),
        "record_mode": record_mode,
        "match_on": ("method", "scheme", "host", "port", "path", "query", "body"),
        "filter_headers": FILTERED_HEADERS,
        "filter_query_parameters": FILTERED_QUERY_PARAMETERS,
        "before_record_request": canonical_request,
        "before_record_response": scrubbed_response,
        "decode_compressed_response": True,
    }
