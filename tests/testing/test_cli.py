"""The fault server's command line: `python -m fallback_core.testing serve ...`."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from fallback_core.testing import Fault, FaultServer
from fallback_core.testing.__main__ import main
from fallback_core.testing._faults import FAULT_NAMES

from .conftest import HELLO, WEATHER_TOOL

# The form each fault's arguments take on the command line.
FORMS = {
    "rate_limit": "rate_limit[=retry_after,retry_after_ms]",
    "server_error": "server_error[=status]",
    "reset_before_headers": "reset_before_headers",
    "no_response": "no_response",
    "slow_first_token": "slow_first_token=delay",
    "cut_after": "cut_after=n",
    "stall_after": "stall_after=n[,seconds]",
    "malformed_chunk": "malformed_chunk=after",
    "missing_done": "missing_done",
    "context_length_exceeded": "context_length_exceeded",
    "content_policy": "content_policy",
    "reject_prefill": "reject_prefill",
    "error_event": "error_event=after[,status]",
    "flapping": "flapping=down_for[,status]",
}


def test_help_lists_every_fault_with_its_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    """`serve --help` names each fault with its arguments in order, and how to combine them."""
    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])

    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    named = {form.split("=")[0].split("[")[0] for form in lines}

    assert done.value.code == 0
    assert FAULT_NAMES - {"sequence"} <= named  # every fault, a new one too
    for name, form in FORMS.items():
        assert form in lines, f"{name} missing from --help"
    assert "Send n tokens, then close the connection" in lines["cut_after=n"]
    assert "times=N" in out
    assert "rate_limit:times=1+cut_after:3" in out


def test_top_level_help_lists_the_faults_too(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m fallback_core.testing --help` already shows the fault syntax."""
    with pytest.raises(SystemExit):
        main(["--help"])

    out = capsys.readouterr().out
    assert all(form in out for form in FORMS.values())


def test_unknown_fault_names_the_closest_and_every_valid_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A misspelt fault is a usage error that suggests the nearest name and lists them all."""
    with pytest.raises(SystemExit) as done:
        main(["serve", "--fault", "primary=cut_afer:5"])

    err = capsys.readouterr().err
    assert done.value.code == 2
    assert "unknown fault 'cut_afer'" in err
    assert "did you mean 'cut_after'?" in err
    valid = err.split("Valid faults: ", 1)[1].strip()
    assert valid.split(", ") == sorted(FAULT_NAMES - {"sequence"})


def test_busy_port_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Serving on a port another socket holds exits with status 1 and one line, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = main(["serve", "--port", str(port)])

    captured = capsys.readouterr()
    assert status == 1
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"python -m fallback_core.testing: error: cannot listen on 127.0.0.1:{port}: "
        f"{os.strerror(98) if sys.platform == 'linux' else 'Address already in use'}"
    ]


def test_bad_tool_call_spec_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Tool-call arguments that are not a JSON object are refused before serving."""
    with pytest.raises(SystemExit) as done:
        main(["serve", "--tool-call", "tooler=get_weather:[1]"])

    assert done.value.code == 2
    assert "expected TOOL or TOOL:{JSON object} or auto, got 'get_weather:[1]'" in (
        capsys.readouterr().err
    )


@pytest.fixture
def served() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The command line serving in a subprocess: a cut primary, a tool caller; its base URL."""
    command = [
        *(sys.executable, "-m", "fallback_core.testing", "serve", "--token-delay", "0"),
        *("--fault", "primary=cut_after:3", "--model", "backup=Backups finish the answer."),
        *("--tool-call", "tooler=auto", "--tool-call", 'scripted=get_weather:{"city": "Oslo"}'),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip(), process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def _stop(process: subprocess.Popen[str]) -> tuple[int, list[str]]:
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)
    return process.returncode, err.splitlines()


def test_served_models_tools_and_one_log_line_per_request(
    served: tuple[str, subprocess.Popen[str]],
) -> None:
    """The served models are listed, tool callers call, and each request is one log line."""
    base_url, process = served
    client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)

    listed = [model.id for model in client.models.list()]
    auto = client.chat.completions.create(
        model="tooler",
        messages=[{"role": "user", "content": "Weather in 'Lima'?"}],
        tools=[WEATHER_TOOL],
    )
    scripted = client.chat.completions.create(
        model="scripted",
        messages=HELLO,
        tools=[WEATHER_TOOL],
    )
    with pytest.raises(httpx.RemoteProtocolError):  # the cut, as the openai client raises it
        for _ in client.chat.completions.create(model="primary", messages=HELLO, stream=True):
            pass
    backup = client.chat.completions.create(model="backup", messages=HELLO)
    missing = httpx.get(f"{base_url}/nothing-here")
    client.close()
    status, lines = _stop(process)

    assert status == 0
    assert sorted(listed) == ["backup", "primary", "scripted", "tooler"]
    auto_calls = auto.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in auto_calls] == [
        ("get_weather", '{"city": "Lima"}')
    ]
    scripted_calls = scripted.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in scripted_calls] == [
        ("get_weather", '{"city": "Oslo"}')
    ]
    assert backup.choices[0].message.content == "Backups finish the answer."
    assert missing.status_code == 404
    assert [line.rsplit(" ", 1)[0] for line in lines] == [
        "GET /v1/models 200",
        "POST /v1/chat/completions 200 model=tooler whole outcome=completed tokens=2",
        "POST /v1/chat/completions 200 model=scripted whole outcome=completed tokens=2",
        "POST /v1/chat/completions 200 model=primary stream fault=cut_after outcome=cut tokens=3",
        "POST /v1/chat/completions 200 model=backup whole outcome=completed tokens=4",
        "GET /v1/nothing-here 404",
    ]
    assert all(line.endswith("s") for line in lines)


def test_request_log_marks_a_reset_without_status(caplog: pytest.LogCaptureFixture) -> None:
    """A request reset before any byte is logged with `-` for its status."""
    caplog.set_level(logging.INFO, logger="fallback_core.testing")
    with FaultServer(faults={"gone": Fault.reset_before_headers()}) as server:
        with pytest.raises(httpx.TransportError):
            httpx.post(
                f"{server.base_url}/chat/completions", json={"model": "gone", "messages": HELLO}
            )
        names = [m["id"] for m in httpx.get(f"{server.base_url}/models").json()["data"]]
        server.set_fault("later", Fault.cut_after(1))
        later = [m["id"] for m in httpx.get(f"{server.base_url}/models").json()["data"]]

    messages = [r.getMessage().rsplit(" ", 1)[0] for r in caplog.records]
    assert messages[0] == (
        "POST /v1/chat/completions - model=gone whole fault=reset_before_headers"
        " outcome=reset tokens=0"
    )
    assert names == ["gone"]
    assert later == ["gone", "later"]


def test_the_command_line_serves_the_messages_api_too(
    served: tuple[str, subprocess.Popen[str]],
) -> None:
    """The same process answers the anthropic SDK at the base URL without /v1."""
    base_url, process = served
    sdk = anthropic.Anthropic(base_url=base_url.removesuffix("/v1"), api_key="t", max_retries=0)
    message = sdk.messages.create(model="backup", max_tokens=50, messages=HELLO)
    sdk.close()
    status, lines = _stop(process)
    assert message.content[0].text == "Backups finish the answer."
    assert lines[-1].startswith("POST /v1/messages 200 model=backup whole outcome=completed")
    assert status == 0
