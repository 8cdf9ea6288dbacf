"""Binary-safe transfers on the bed's sshd hosts: ``gtp-remote copy`` and ``fetch`` as a user runs
them, ``POST /file/upload`` and ``/file/download`` (one-shot and chunked, with resume), and the
MCP tools, each checked on the hosts themselves (``sha256sum`` there, the file's mode, what is
left behind)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
import pytest
import yaml
from aiohttp.test_utils import TestServer
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import Implementation

from gtp_remote.api.routes import create_app
from gtp_remote.api.state import Api
from gtp_remote.config import load_inventory
from gtp_remote.errors import ChecksumMismatchError, UploadOffsetError
from gtp_remote.gateway import Command, FileDownload, FileUpload, Gateway
from gtp_remote.settings import Settings
from gtp_remote.tokens import Authenticator, load_tokens
from tests.conftest import OWNER, ROOT, Bed, fan_out, make_inventory

pytestmark = pytest.mark.bed

CLI = str(ROOT / ".venv/bin/gtp-remote")
BOX = "xfer"  # below each host's home: the tests' own folder there
SECRETS = {"boss": "xfer-boss-secret-token", "reader": "xfer-reader-secret-token"}
TOKENS = {
    "tokens": {
        "boss": {"env": "XFER_BOSS_TOKEN"},
        "reader": {"env": "XFER_READER_TOKEN", "operations": ["files.read"]},
    }
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fresh_box(bed: Bed) -> None:
    for host in bed.hosts.values():
        box = f"{host.home}/{BOX}"
        host.sh(f"rm -rf {box} {host.home}/outside.bin && mkdir -p {box} && chown -R {bed.user} {box}")


def on_host(bed: Bed, server: str, rel: str) -> Path:
    return Path(bed.hosts[server].home) / BOX / rel


def cli(bed: Bed, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "-i", str(bed.inventory), *args], capture_output=True, text=True, env=env, timeout=120
    )


# -- the command line --------------------------------------------------------------------------


async def test_copy_and_fetch_a_5mb_binary_file_on_every_host(bed: Bed, bed_gateway: Gateway, tmp_path: Path):
    fresh_box(bed)
    data = os.urandom(5_000_000)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    src.chmod(0o640)
    env = {**os.environ, "GTP_STATE_DIR": str(tmp_path / "state")}

    run = cli(bed, env, "copy", "all", str(src), f"{BOX}/", "--json")
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [r["server"] for r in rows] == ["db", "code", "k8s-master"]
    assert all(r["status"] == "ok" and r["bytes"] == len(data) and r["sha256"] == sha(data) for r in rows)
    assert all(r["path"] == f"{BOX}/big.bin" for r in rows)  # DEST ending in /: DEST/basename(SRC)
    # on each host, by its own sha256sum: the bytes, and SRC's mode kept; nothing else left there
    check = await fan_out(
        bed_gateway, "all", f"sha256sum {BOX}/big.bin; stat -c %a {BOX}/big.bin; ls -A {BOX}"
    )
    for r in check.results:
        assert r.stdout.split() == [sha(data), f"{BOX}/big.bin", "640", "big.bin"], r

    # --mode, and a DEST that is a directory on the host
    run = cli(bed, env, "copy", "all", str(src), BOX, "--mode", "0600")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "copied on 3 of 3 hosts" in run.stdout
    check = await fan_out(bed_gateway, "all", f"stat -c %a {BOX}/big.bin")
    assert [r.stdout.strip() for r in check.results] == ["600"] * 3

    # fetch it back: DIR/HOST/PATH, the same bytes
    into = tmp_path / "fetched"
    run = cli(bed, env, "fetch", "all", f"{BOX}/big.bin", str(into), "--json")
    assert run.returncode == 0, run.stderr
    assert all(r["status"] == "ok" and r["sha256"] == sha(data) for r in json.loads(run.stdout))
    for server in bed.hosts:
        assert (into / server / BOX / "big.bin").read_bytes() == data
    assert not list(into.rglob("*.gtp-fetch"))

    # each host's copy was audited with its bytes and sha256
    events = [json.loads(line) for line in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    uploads = [e for e in events if e.get("operation") == "upload:overwrite"]
    assert len(uploads) == 6 and all(e["sha256"] == sha(data) and e["bytes"] == len(data) for e in uploads)
    downloads = [e for e in events if e.get("operation") == "download"]
    assert {e["server"] for e in downloads} == set(bed.hosts) and all(
        e["sha256"] == sha(data) for e in downloads
    )


def test_fetch_refuses_a_path_that_climbs_out_and_copy_a_missing_source(bed: Bed, tmp_path: Path):
    env = {**os.environ, "GTP_STATE_DIR": str(tmp_path / "state")}
    run = cli(bed, env, "fetch", "all", "../etc/passwd", str(tmp_path / "out"))
    assert run.returncode == 2 and "'..'" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()
    run = cli(bed, env, "copy", "db", str(tmp_path / "nope.bin"), "x")
    assert run.returncode == 2 and "nope.bin" in run.stderr and "Traceback" not in run.stderr
    run = cli(bed, env, "copy", "db", str(tmp_path), "x", "--mode", "999")
    assert run.returncode == 2 and "not a regular file" in run.stderr


async def test_copy_to_a_host_that_is_down_fails_that_host_only(bed: Bed, tmp_path: Path):
    fresh_box(bed)
    src = tmp_path / "small.bin"
    src.write_bytes(bytes(range(256)))
    inventory = tmp_path / "inv.yaml"
    doc = yaml.safe_load(bed.inventory.read_text())
    doc["servers"]["ghost"] = {**doc["servers"]["db"], "host": "10.203.0.99", "connect_timeout": 2}
    inventory.write_text(yaml.safe_dump(doc))
    env = {**os.environ, "GTP_STATE_DIR": str(tmp_path / "state")}
    run = subprocess.run(
        [CLI, "-i", str(inventory), "copy", "db,ghost", str(src), f"{BOX}/small.bin", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 1
    rows = {r["server"]: r for r in json.loads(run.stdout)}
    assert rows["db"]["status"] == "ok" and rows["ghost"]["status"] == "unreachable"
    assert on_host(bed, "db", "small.bin").read_bytes() == bytes(range(256))


# -- REST ------------------------------------------------------------------------------------


@dataclass
class Served:
    api: Api
    base: str

    async def post(self, path: str, body: dict[str, Any], token: str = "boss") -> tuple[int, dict]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.base + path, json=body, headers={"Authorization": f"Bearer {SECRETS[token]}"}
            ) as r,
        ):
            text = await r.text()
            assert len(text) < 100_000  # every answer inside the budget
            return r.status, json.loads(text)


@pytest.fixture
async def served(bed: Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    fresh_box(bed)
    doc = yaml.safe_load(bed.inventory.read_text())
    # db: confined below the box; code: a policy that denies writing secrets
    doc["servers"]["db"]["root"] = f"/home/{bed.user}/{BOX}"
    doc["servers"]["code"]["policy"] = {"paths": {"deny": ["**/secret*"]}}
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(yaml.safe_dump(doc))
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump(TOKENS))
    monkeypatch.setenv("GTP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GTP_TOKENS_FILE", str(tokens))
    for name, secret in SECRETS.items():
        monkeypatch.setenv(f"XFER_{name.upper()}_TOKEN", secret)
    settings = replace(Settings.from_env(), rate=1000, burst=1000)
    api = Api(Gateway(load_inventory(inventory, settings), settings), Authenticator(load_tokens(settings)))
    server = TestServer(create_app(api), host="127.0.0.1")
    await server.start_server()
    try:
        yield Served(api, str(server.make_url("")).rstrip("/"))
    finally:
        await server.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_rest_one_shot_upload_and_download_of_every_byte_value(bed: Bed, served: Served):
    data = bytes(range(256)) * 4
    status, body = await served.post(
        "/file/upload",
        {"server": "db", "path": "bytes.bin", "content_base64": b64(data), "file_mode": "0640"},
    )
    assert status == 200, body
    assert body["final"] and body["bytes"] == len(data) and body["sha256"] == sha(data)
    assert body["stat"]["mode"] == "0o640" and body["stat"]["sha256"] == sha(data)
    assert on_host(bed, "db", "bytes.bin").read_bytes() == data

    status, body = await served.post("/file/download", {"server": "db", "path": "bytes.bin"})
    assert status == 200, body
    assert base64.b64decode(body["content_base64"]) == data
    assert body["eof"] and body["size"] == len(data) and body["sha256"] == sha(data)


async def test_rest_chunked_upload_with_resume_and_chunked_download(bed: Bed, served: Served):
    data = os.urandom(2_500_000)
    chunk = 700_000
    path = {"server": "db", "path": "chunked.bin"}

    async def send(offset: int, final: bool, **extra: Any) -> tuple[int, dict]:
        piece = data[offset : offset + chunk]
        return await served.post(
            "/file/upload", {**path, "content_base64": b64(piece), "offset": offset, "final": final, **extra}
        )

    assert (await send(0, False))[0] == 200
    status, body = await send(chunk, False)
    assert status == 200 and body["staged"] == 2 * chunk and body["sha256"] is None
    # a chunk sent at the wrong offset: 409 naming where to resume; nothing staged changes
    status, body = await send(3 * chunk, False)
    assert status == 409 and body["error"]["code"] == "conflict", body
    assert body["error"]["expected_offset"] == 2 * chunk and str(2 * chunk) in body["error"]["message"]
    status, body = await send(2 * chunk, False)
    assert status == 200 and body["staged"] == 3 * chunk
    # the final chunk of several needs the whole file's sha256
    status, body = await send(3 * chunk, True)
    assert status == 400 and "sha256" in body["error"]["message"]
    assert not on_host(bed, "db", "chunked.bin").exists()
    status, body = await send(3 * chunk, True, sha256=sha(data).upper())
    assert status == 200, body
    assert body["final"] and body["sha256"] == sha(data) and body["stat"]["size"] == len(data)
    assert on_host(bed, "db", "chunked.bin").read_bytes() == data
    assert sorted(p.name for p in on_host(bed, "db", "").iterdir()) == ["chunked.bin"]  # no staging left

    got, offset, answers = b"", 0, 0
    while True:
        last = offset
        status, body = await served.post("/file/download", {**path, "offset": offset})
        assert status == 200 and body["offset"] == offset and body["bytes_read"] <= 60000
        got += base64.b64decode(body["content_base64"])
        offset += body["bytes_read"]
        answers += 1
        if body["eof"]:
            break
        assert body["sha256"] is None
    assert got == data and answers == -(-len(data) // 60000)
    # the whole file's sha256 costs a full read on the host: past offset 0 it is given when asked
    assert body["sha256"] is None
    status, body = await served.post("/file/download", {**path, "offset": last, "sha256": True})
    assert status == 200 and body["eof"] and body["sha256"] == sha(data)


async def test_rest_a_wrong_checksum_leaves_the_old_file_and_no_temp_file(bed: Bed, served: Served):
    target = on_host(bed, "db", "keep.txt")
    target.write_bytes(b"the old file\n")
    new = b"the new file\n"
    status, body = await served.post(
        "/file/upload", {"server": "db", "path": "keep.txt", "content_base64": b64(new), "sha256": sha(b"x")}
    )
    assert status == 409 and body["error"]["code"] == "checksum_mismatch", body
    assert sha(new) in body["error"]["message"]
    assert target.read_bytes() == b"the old file\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["keep.txt"]
    # chunked: a final chunk whose whole file differs removes what was staged too
    for offset, final in [(0, False), (5, True)]:
        status, body = await served.post(
            "/file/upload",
            {
                "server": "db",
                "path": "keep.txt",
                "content_base64": b64(new[offset : offset + 5] if not final else new[5:]),
                "offset": offset,
                "final": final,
                "sha256": sha(b"not it"),
            },
        )
    assert status == 409 and body["error"]["code"] == "checksum_mismatch"
    assert target.read_bytes() == b"the old file\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["keep.txt"]


async def test_rest_refusals(bed: Bed, served: Served):
    good = b64(b"hello")
    # base64 that is not: 400 naming the field
    status, body = await served.post(
        "/file/upload", {"server": "db", "path": "a.bin", "content_base64": "*!"}
    )
    assert status == 400 and "content_base64" in body["error"]["message"]
    status, body = await served.post(
        "/file/upload", {"server": "db", "path": "a.bin", "content_base64": good, "sha256": "xyz"}
    )
    assert status == 400 and "sha256" in body["error"]["message"]
    # outside the server's root
    status, body = await served.post(
        "/file/upload", {"server": "db", "path": f"/home/{bed.user}/outside.bin", "content_base64": good}
    )
    assert status == 403 and body["error"]["code"] == "path_not_allowed"
    status, body = await served.post("/file/download", {"server": "db", "path": "../.bashrc"})
    assert status == 403 and body["error"]["code"] == "path_not_allowed"
    assert not (Path(bed.hosts["db"].home) / "outside.bin").exists()
    # a token without files.write
    status, body = await served.post(
        "/file/upload", {"server": "db", "path": "a.bin", "content_base64": good}, token="reader"
    )
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert not on_host(bed, "db", "a.bin").exists()
    # the policy denies writing this path
    status, body = await served.post(
        "/file/upload", {"server": "code", "path": f"{BOX}/secret.key", "content_base64": good}
    )
    assert status == 403 and body["error"]["code"] == "policy_denied"
    assert not on_host(bed, "code", "secret.key").exists()
    # a download too large for one answer is capped by the model
    status, body = await served.post("/file/download", {"server": "db", "path": "a.bin", "limit": 60001})
    assert status == 400 and "limit" in body["error"]["message"]


async def test_red_team_no_setuid_and_staged_bytes_are_judged_as_their_target(bed: Bed, served: Served):
    """An upload sets no setuid/setgid/sticky bit, a rewritten file loses one, and the staging file of
    an upload in progress is not readable by a name its target's rules do not see."""
    good = b64(b"#!/bin/sh\n")
    for mode in ("6777", "4755", "1777", "07777"):
        status, body = await served.post(
            "/file/upload", {"server": "db", "path": "s.bin", "content_base64": good, "file_mode": mode}
        )
        assert status == 400 and "file_mode" in body["error"]["message"], (mode, body)
    assert not on_host(bed, "db", "s.bin").exists()
    path = on_host(bed, "db", "kept.bin")
    bed.hosts["db"].sh(f"printf old > {path} && chown {bed.user} {path} && chmod 4755 {path}")
    status, body = await served.post(
        "/file/upload", {"server": "db", "path": "kept.bin", "content_base64": good}
    )
    assert status == 200, body
    assert bed.hosts["db"].sh(f"stat -c %a {path}").stdout.strip() == "755"  # setuid dropped, rest kept

    # code denies **/secret*: the first chunk of BOX/secret.txt is refused; a staged one of another
    # name is not readable through its gateway name either (judged, never allowed by name)
    status, body = await served.post(
        "/file/upload",
        {"server": "code", "path": f"{BOX}/notes.txt", "content_base64": good, "final": False},
    )
    assert status == 200, body
    staged = [n for n in bed.hosts["code"].sh(f"ls -A {bed.hosts['code'].home}/{BOX}").stdout.split()]
    assert len(staged) == 1 and ".gtp-upload-" in staged[0], staged
    status, body = await served.post("/file/download", {"server": "code", "path": f"{BOX}/{staged[0]}"})
    assert status in (202, 403), body  # waits for a person (the dynamic action), or refused
    assert "content_base64" not in body


def test_fetch_keeps_copies_private_and_a_local_error_fails_that_host_only(bed: Bed, tmp_path: Path):
    env = {**os.environ, "GTP_STATE_DIR": str(tmp_path / "state")}
    fresh_box(bed)
    for host in bed.hosts.values():
        key = f"{host.home}/{BOX}/key"
        host.sh(f"echo secret-of-{host.name} > {key} && chown {bed.user} {key} && chmod 600 {key}")
    into = tmp_path / "into"
    (into / "db").mkdir(parents=True)
    (into / "db" / BOX).write_text("a file where the folder should be")
    run = cli(bed, env, "fetch", "all", f"{BOX}/key", str(into), "--json")
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    rows = {r["server"]: r for r in json.loads(run.stdout)}
    assert rows["db"]["status"] == "failed" and "cannot write" in rows["db"]["error"]["message"]
    for server in ("code", "k8s-master"):
        assert rows[server]["status"] == "ok"
        copy = into / server / BOX / "key"
        assert copy.read_text() == f"secret-of-{server}\n"
        assert copy.stat().st_mode & 0o777 == 0o600


# -- MCP -------------------------------------------------------------------------------------


async def test_mcp_upload_and_download(bed: Bed, served: Served):
    data = bytes(range(256))[::-1] * 3
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {SECRETS['boss']}"}, timeout=httpx2.Timeout(60, read=120)
    )
    target = streamable_http_client(f"{served.base}/mcp", http_client=http)
    async with Client(
        target, client_info=Implementation(name="pytest-xfer", version="1"), mode="legacy"
    ) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"upload_file", "download_file"} <= tools
        up = await client.call_tool(
            "upload_file",
            {"server": "db", "path": "mcp.bin", "content_base64": b64(data), "sha256": sha(data)},
        )
        assert not up.is_error, up.content[0].text
        assert up.structured_content["sha256"] == sha(data)
        down = await client.call_tool("download_file", {"server": "db", "path": "mcp.bin"})
        assert not down.is_error, down.content[0].text
        assert base64.b64decode(down.structured_content["content_base64"]) == data
        assert down.structured_content["sha256"] == sha(data)
    assert on_host(bed, "db", "mcp.bin").read_bytes() == data


# -- the SFTP fallback -----------------------------------------------------------------------------


async def test_sftp_fallback_checks_and_answers_the_sha256_too(bed: Bed, settings: Settings):
    fresh_box(bed)
    gw = Gateway(make_inventory(bed.server("db", files="sftp")), settings)
    try:
        data = os.urandom(300_000)
        old = on_host(bed, "db", "s.bin")
        old.write_bytes(b"old")
        # a wrong sha256: the old file stays, no temp file is left
        plan = await gw.plan(OWNER, FileUpload(f"{BOX}/s.bin", data, server="db", sha256=sha(b"x")))
        with pytest.raises(ChecksumMismatchError):
            await gw.perform(plan)
        assert old.read_bytes() == b"old" and [p.name for p in old.parent.iterdir()] == ["s.bin"]
        # chunked, with file_mode, and a wrong offset refused with the one to send
        staged = 0
        for offset, final in [(0, False), (100_000, False), (200_000, True)]:
            piece = data[offset : offset + 100_000]
            up = FileUpload(
                f"{BOX}/s.bin",
                piece,
                server="db",
                offset=offset,
                final=final,
                file_mode=0o600,
                sha256=sha(data),
            )
            if offset == 200_000:
                wrong = FileUpload(f"{BOX}/s.bin", piece, server="db", offset=150_000, final=False)
                with pytest.raises(UploadOffsetError) as refused:
                    await gw.perform(await gw.plan(OWNER, wrong))
                assert refused.value.expected_offset == 200_000
            result = await gw.perform(await gw.plan(OWNER, up))
            staged = result.staged
        assert staged == len(data) and result.sha256 == sha(data) and result.stat.mode == "0o600"
        assert old.read_bytes() == data and [p.name for p in old.parent.iterdir()] == ["s.bin"]
        down = await gw.perform(
            await gw.plan(OWNER, FileDownload(f"{BOX}/s.bin", server="db", limit=1000, sha256=True))
        )
        assert down.data == data[:1000] and not down.eof and down.sha256 == sha(data)
    finally:
        await gw.close()


def test_copy_asks_once_for_every_host_a_policy_wants_confirmed(bed: Bed, tmp_path: Path):
    fresh_box(bed)
    src = tmp_path / "conf.txt"
    src.write_bytes(b"confirm me\n")
    doc = yaml.safe_load(bed.inventory.read_text())
    doc["groups"] = {"bed": {"policy": {"paths": {"confirm": [f"write:**/{BOX}/**"]}}}}
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(yaml.safe_dump(doc))
    env = {**os.environ, "GTP_STATE_DIR": str(tmp_path / "state")}

    def copy(*extra: str) -> subprocess.CompletedProcess[str]:
        args = [CLI, "-i", str(inventory), "copy", "db,code", str(src), f"{BOX}/conf.txt", *extra]
        return subprocess.run(
            args, capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL
        )

    refused = copy("--json")  # no terminal to ask: refused on both, asked once
    assert refused.returncode == 1 and refused.stderr.count("needs approval on db, code") == 1
    assert "sha256: " + sha(src.read_bytes()) in refused.stderr and "size: 11" in refused.stderr
    assert all(r["error"]["code"] == "rejected" for r in json.loads(refused.stdout))
    assert not on_host(bed, "db", "conf.txt").exists()
    approved = copy("--yes", "--json")
    assert approved.returncode == 0 and approved.stderr.count("needs approval on") == 1
    assert on_host(bed, "code", "conf.txt").read_bytes() == b"confirm me\n"
    events = [json.loads(line) for line in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    done = [e for e in events if e.get("operation") == "upload:overwrite" and e["outcome"] == "ok"]
    assert len(done) == 2 and all(e["approved_by"].endswith("(--yes)") for e in done)


def test_a_download_answer_fits_the_budget_whatever_its_path():
    """Red-team regression: a full piece of a file whose path is thousands of escaped characters
    went over 100,000 characters; the piece is cut shorter and says where to go on."""
    from gtp_remote.api.operations import shape_download
    from gtp_remote.budget import RESPONSE_BUDGET, json_size
    from gtp_remote.gateway import Downloaded

    path = "/srv/" + "\x01" * 3800
    piece = Downloaded(
        server="db", path=path, offset=0, bytes_read=60000, size=10**6, eof=False, data=b"a" * 60000
    )
    body = shape_download(piece)
    assert json_size(body) < RESPONSE_BUDGET - 5000
    assert 0 < body["bytes_read"] < 60000 and not body["eof"] and body["sha256"] is None
    assert base64.b64decode(body["content_base64"]) == b"a" * body["bytes_read"]
    whole = Downloaded(
        server="db",
        path="/srv/f",
        offset=0,
        bytes_read=60000,
        size=60000,
        eof=True,
        sha256="0" * 64,
        data=b"a" * 60000,
    )
    assert shape_download(whole)["bytes_read"] == 60000 and shape_download(whole)["eof"]


async def test_an_approver_of_one_chunk_is_not_shown_it_as_the_whole_file(bed: Bed, settings: Settings):
    """Review regression: the final chunk of a chunked upload showed its few bytes as the file's
    content and size, so an approver read 14 harmless bytes and committed a 5 MB file."""
    from gtp_remote.policy import PolicyConfig

    inventory = load_inventory(bed.inventory)
    inventory.servers["db"] = bed.server(
        "db", policy=PolicyConfig.model_validate({"paths": {"confirm": ["write:**"]}})
    )
    async with Gateway(inventory, settings) as gw:
        one = await gw.plan(OWNER, FileUpload(f"{BOX}/w.sh", b"echo harmless\n", server="db"))
        assert one.pending()["content"] == "echo harmless\n" and one.pending()["size"] == 14
        last = await gw.plan(
            OWNER,
            FileUpload(f"{BOX}/w.sh", b"echo harmless\n", server="db", offset=5_000_000, sha256="0" * 64),
        )
        shown = last.pending()
        assert "content" not in shown and "size" not in shown
        assert shown["chunk_bytes"] == 14 and "other chunks are not shown" in shown["note"]


@pytest.mark.parametrize(
    "command",
    ["grep -r db_password conf", "grep -R . conf/", "find conf -type f -exec cat {} +", "egrep -r . ./conf"],
)
async def test_a_folder_holding_a_staged_upload_is_not_read_whole_unasked(
    bed: Bed, settings: Settings, command: str
):
    """Red-team regression (bash and dash): a recursive read of a folder holding only a staged
    upload of a denied name was judged clean, since no rule for the target matches the staged
    name; listing the names stays allowed."""
    from gtp_remote.errors import PolicyDeniedError
    from gtp_remote.policy import PolicyConfig

    home = bed.hosts["db"].home
    conf = f"{home}/{BOX}/conf"
    bed.hosts["db"].sh(
        f"rm -rf {conf} && mkdir -p {conf}"
        f" && echo db_password=x > {conf}/.secret.txt.gtp-upload-0123456789abcdef"
        f" && chown -R {bed.user} {home}/{BOX}"
    )
    policy = PolicyConfig.model_validate(
        {
            "commands": {"allow": ["grep *", "egrep *", "find *", "cat *", "ls *"]},
            "paths": {"allow": ["**"], "deny": ["**/secret*"]},
            "default": "deny",
        }
    )
    inventory = load_inventory(bed.inventory)
    inventory.servers["db"] = bed.server("db", policy=policy)
    async with Gateway(inventory, settings) as gw:
        try:
            plan = await gw.plan(OWNER, Command(command, server="db", cwd=f"{home}/{BOX}"))
            assert plan.decision.action != "allow", plan.decision
        except PolicyDeniedError:
            pass
        listed = await gw.plan(OWNER, Command("ls -a conf", server="db", cwd=f"{home}/{BOX}"))
        assert listed.decision.action == "allow", listed.decision
