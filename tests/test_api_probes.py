"""What an outside prober found against a running ``serve``, held: bytes that are not UTF-8 in a
token, a body whose compression is broken, a token in a malformed header line, a file named with
a trailing ``/``, and a cancel racing an approved write.

A real ``gtp-remote serve`` process each time (its own stderr is read for tracebacks and tokens),
on a ``local`` server confined to a folder, so the race runs many rounds in seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import start_serve

OWNER = "probe-owner-token-0123456789"
AGENT = "probe-agent-token-0123456789"
OPS = "probe-ops-token-0123456789"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen[str]]]:
    root = tmp_path / "root"
    root.mkdir()
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(f"servers:\n  box:\n    protocol: local\n    root: {root}\n")
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(
        "tokens:\n"
        "  owner: {env: PROBE_OWNER, operations: [exec, files.read, files.write, approve]}\n"
        "  agent:\n"
        "    env: PROBE_AGENT\n"
        "    operations: [files.read, files.write]\n"
        "    policy: {paths: {allow: ['read:**', 'list:**'], confirm: ['write:**']}}\n"
        "  ops: {env: PROBE_OPS, operations: [approve]}\n"
    )
    env = {
        **os.environ,
        "GTP_STATE_DIR": str(tmp_path / "state"),
        "GTP_TOKENS_FILE": str(tokens),
        "PROBE_OWNER": OWNER,
        "PROBE_AGENT": AGENT,
        "PROBE_OPS": OPS,
        "GTP_RATE_LIMIT": "1000",  # the race test sends a few hundred requests in seconds
    }
    server, port = start_serve(["--inventory", str(inventory)], env)
    try:
        yield port, root, server
    finally:
        server.terminate()
        server.wait(10)


def raw_request(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(data)  # Connection: close: the server closes after its answer
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def output(server: subprocess.Popen[str]) -> str:
    server.terminate()
    out, _ = server.communicate(timeout=10)
    return out


def test_a_token_of_bytes_that_are_not_utf8_is_refused_and_counted_not_a_500(served):
    port, _, server = served
    request = b"GET /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n"
    statuses = [status_of(raw_request(port, request)) for _ in range(25)]
    assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}, statuses
    assert "Traceback" not in output(server)


def test_a_body_whose_compression_is_broken_is_a_400(served):
    port, _, server = served
    body = b'{"path":"a.txt","server":"box"}'
    for encoding in (b"gzip", b"deflate"):
        answer = raw_request(
            port,
            b"POST /file/read HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + OWNER.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Encoding: " + encoding + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body,
        )
        assert status_of(answer) == 400, answer[:300]
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "invalid_request"
    assert "Traceback" not in output(server)


def test_a_token_in_a_malformed_header_line_stays_out_of_the_log(served):
    port, _, server = served
    for line in (
        b"Authorization: Bearer " + OWNER.encode() + b"\x00",
        b"Authorization : Bearer " + OWNER.encode(),
    ):
        answer = raw_request(
            port, b"GET /jobs HTTP/1.1\r\nHost: x\r\n" + line + b"\r\nConnection: close\r\n\r\n"
        )
        assert status_of(answer) == 400
    log = output(server)
    assert OWNER not in log and "bad HTTP request refused" in log


def test_a_file_named_with_a_trailing_slash_is_not_read_as_the_file(served):
    port, root, _ = served
    (root / "a.txt").write_text("text")

    async def go() -> tuple[int, dict]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{port}/file/read",
                json={"server": "box", "path": "a.txt/"},
                headers={"Authorization": f"Bearer {OWNER}"},
            ) as r,
        ):
            return r.status, await r.json()

    status, body = asyncio.run(go())
    assert status == 400 and "names a folder" in body["error"]["message"], body


def test_a_cancel_racing_an_approved_write_reports_what_happened_to_the_file(served):
    """Approve and cancel sent together: the job's final status must say whether the file was
    written (succeeded) or not (cancelled), never cancelled with the file there."""
    port, root, _ = served
    url = f"http://127.0.0.1:{port}"

    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def one(http: aiohttp.ClientSession, n: int, delay: float) -> tuple[str, bool]:
        async with http.post(
            f"{url}/file/write",
            json={"server": "box", "path": f"race-{n}.txt", "content": "A" * 40_000, "mode": "create"},
            headers=auth(AGENT),
        ) as r:
            body = await r.json()
            assert r.status == 202, body
        job, pending = body["job_id"], body["pending_action"]["id"]

        async def approve() -> None:
            async with http.post(
                f"{url}/jobs/{job}/approve", json={"pending_id": pending}, headers=auth(OPS)
            ) as r:
                await r.read()

        async def cancel() -> None:
            await asyncio.sleep(delay)
            async with http.post(f"{url}/jobs/{job}/cancel", headers=auth(AGENT)) as r:
                await r.read()

        await asyncio.gather(approve(), cancel())
        for _ in range(100):
            async with http.get(f"{url}/jobs/{job}", headers=auth(AGENT)) as r:
                view = await r.json()
                state = view.get("status", view)
            if state not in ("running", "awaiting_approval", "queued"):
                break
            await asyncio.sleep(0.05)
        return state, (root / f"race-{n}.txt").exists()

    async def go() -> list[tuple[str, bool]]:
        async with aiohttp.ClientSession() as http:
            return [await one(http, n, (n % 6) * 0.001) for n in range(30)]

    seen = asyncio.run(go())
    for state, written in seen:
        assert state in ("succeeded", "cancelled", "rejected"), seen
        assert written == (state == "succeeded"), seen
