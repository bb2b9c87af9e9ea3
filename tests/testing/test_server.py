"""The server around the answers: attempts log, lifecycle, connections, CLI and pytest plugin."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from fallback_core.testing import Fault, FaultServer

from .conftest import HELLO, PRIMARY_ANSWER, Driver

CHAT_BODY = json.dumps({"model": "m", "messages": HELLO, "stream": True}).encode()


async def test_attempts_log_counts_per_model_and_reset_clears_it(
    drive: Driver, fault_server: FaultServer
) -> None:
    """Every chat request is logged under its model; `reset()` clears the log and the faults."""
    fault_server.set_fault("primary", Fault.rate_limit())
    with pytest.raises(openai.RateLimitError):
        await drive.create(model="primary")
    await drive.create(model="backup")
    await drive.stream(model="backup")

    counts = (fault_server.attempt_count("primary"), fault_server.attempt_count("backup"))
    total = fault_server.attempt_count()
    fault_server.reset()
    healed = await drive.create(model="primary")

    assert counts == (1, 2)
    assert total == 3
    assert healed.choices[0].message.content == PRIMARY_ANSWER
    assert [a.model for a in fault_server.attempts()] == ["primary"]


async def test_attempt_records_tell_what_each_attempt_got(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A record holds the fault, status, outcome, streaming, tokens sent and ordered timestamps."""
    fault_server.set_fault("primary", Fault.sequence(Fault.server_error(502), Fault.cut_after(4)))
    with pytest.raises(openai.InternalServerError):
        await drive.stream(model="primary")
    await drive.stream(model="primary")
    await drive.create(model="primary")

    failed, cut, whole = fault_server.attempts("primary")

    assert (failed.fault, failed.status, failed.outcome) == ("server_error", 502, "error_response")
    assert (cut.fault, cut.outcome, cut.streamed, cut.tokens_sent) == ("cut_after", "cut", True, 4)
    assert (whole.fault, whole.outcome, whole.streamed) == (None, "completed", False)
    assert whole.tokens_sent == len(PRIMARY_ANSWER.split())
    assert cut.ended_at is not None
    assert failed.started_at <= cut.started_at <= cut.ended_at
    assert abs(whole.started_wall - time.time()) < 60


def test_stop_closes_an_in_flight_stalled_stream_and_leaves_no_thread() -> None:
    """Stopping the server ends a stream stalled mid-answer and joins the server thread."""
    threads_before = set(threading.enumerate())
    server = FaultServer(faults={"m": Fault.stall_after(2)}).start()
    port = server.port

    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", f"{server.base_url}/chat/completions", content=CHAT_BODY) as reply,
    ):
        lines = reply.iter_lines()
        assert next(lines).startswith("data: ")
        server.stop()
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            list(lines)

    assert set(threading.enumerate()) - threads_before == set()
    assert [a.outcome for a in server.attempts()] == ["server_stopped"]
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts file descriptors in /proc")
def test_start_and_stop_leave_no_socket_open() -> None:
    """A served, stopped server leaves the process with the file descriptors it had before."""
    fds_before = len(os.listdir("/proc/self/fd"))

    with FaultServer() as server, httpx.Client() as client:
        client.post(f"{server.base_url}/chat/completions", content=CHAT_BODY).raise_for_status()

    assert len(os.listdir("/proc/self/fd")) <= fds_before


async def test_server_holds_a_thousand_concurrent_streams() -> None:
    """A thousand streams can be open at once; stopping the server ends all of them."""
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
        f"x-fault: stall_after=1\r\ncontent-length: {len(CHAT_BODY)}\r\n\r\n"
    )

    async def open_stream(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head.encode() + CHAT_BODY)
        await reader.readuntil(b"data: ")  # the first token arrived
        return reader, writer

    with FaultServer() as server:
        streams = await asyncio.gather(*(open_stream(server.port) for _ in range(1000)))
        in_flight = [a.outcome for a in server.attempts()].count("in_progress")
    endings = await asyncio.gather(*(r.read() for r, _ in streams), return_exceptions=True)
    for _, writer in streams:
        writer.close()

    assert in_flight == 1000
    assert all(e == b"" or isinstance(e, ConnectionError) for e in endings)
    assert {a.outcome for a in server.attempts()} == {"server_stopped"}


def test_keep_alive_serves_several_requests_on_one_connection(fault_server: FaultServer) -> None:
    """Responses leave the connection open for the next request, as pooling clients expect."""
    connection = http.client.HTTPConnection("127.0.0.1", fault_server.port, timeout=5)
    bodies = []
    sockets = []
    for stream in (False, True, False):
        body = json.dumps({"model": "m", "messages": HELLO, "stream": stream})
        connection.request("POST", "/v1/chat/completions", body)
        bodies.append(connection.getresponse().read())
        sockets.append(connection.sock)
    connection.close()

    assert (
        json.loads(bodies[0])["choices"][0]["message"]["content"]
        == json.loads(bodies[2])["choices"][0]["message"]["content"]
    )
    assert bodies[1].endswith(b"data: [DONE]\n\n")
    assert sockets[0] is not None
    assert sockets.count(sockets[0]) == 3


def test_lifecycle_misuse_is_refused_and_stop_is_idempotent() -> None:
    """A server cannot be started twice or asked for its URL before starting; stop is re-entrant."""
    server = FaultServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url

    with server, pytest.raises(RuntimeError, match="already running"):
        server.start()
    server.stop()

    assert server.attempt_count() == 0


def test_faults_given_at_construction_strike_from_the_first_request() -> None:
    """Faults passed to the constructor are in force as soon as the server starts."""
    with FaultServer(faults={"m": Fault.rate_limit(retry_after=1)}) as server:
        response = httpx.post(f"{server.base_url}/chat/completions", content=CHAT_BODY)

    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"


def test_command_line_serves_until_interrupted() -> None:
    """`python -m fallback_core.testing serve` prints its URL, serves, and exits on Ctrl-C."""
    command = [
        sys.executable,
        "-m",
        "fallback_core.testing",
        "serve",
        "--model",
        "m=Hello from the command line.",
        "--fault",
        "m=rate_limit:times=1",
        "--backup",
        "m=restart",
        "--token-delay",
        "0",
    ]
    partial = [*HELLO, {"role": "assistant", "content": "Hello from"}]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        url = f"{base_url}/chat/completions"
        first = httpx.post(url, content=CHAT_BODY.replace(b'"stream": true', b'"stream": false'))
        second = httpx.post(url, content=CHAT_BODY.replace(b'"stream": true', b'"stream": false'))
        restarted = httpx.post(url, json={"model": "m", "messages": partial})
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)

    assert base_url.startswith("http://127.0.0.1:")
    assert first.status_code == 429
    assert second.json()["choices"][0]["message"]["content"] == "Hello from the command line."
    assert restarted.json()["choices"][0]["message"]["content"] == "Hello from the command line."
    assert code == 0


def test_pytest_plugin_gives_a_running_fault_server(tmp_path: Path) -> None:
    """`pytest_plugins = ["fallback_core.testing.pytest_plugin"]` provides the fixture to users."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["fallback_core.testing.pytest_plugin"]\n'
    )
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import httpx

            def test_uses_the_fixture(fault_server):
                url = fault_server.base_url + "/chat/completions"
                body = {"model": "mine", "messages": [{"role": "user", "content": "hi"}]}
                reply = httpx.post(url, json=body).json()
                assert reply["choices"][0]["message"]["content"] == fault_server.answer_for("mine")
            """
        )
    )
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
