"""The local executor, and the behaviour the base class gives every executor."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gtp_remote.config import Server
from gtp_remote.errors import InvalidRequestError, PathNotAllowedError, RemoteFileError
from gtp_remote.executors import confined
from gtp_remote.executors.base import Output, RunResult
from gtp_remote.executors.local import LocalExecutor
from gtp_remote.executors.output import OutputBuffer, clip_json, clip_text, json_chars


def local(**changes: object) -> LocalExecutor:
    return LocalExecutor(Server.model_validate({"name": "here", "protocol": "local", **changes}))


def test_output_buffer_keeps_head_and_tail_and_counts():
    buf = OutputBuffer(limit=100)
    for i in range(1000):
        buf.add(f"{i:04d}\n".encode())
    text = buf.text()
    assert buf.truncated and buf.total == 5000
    assert text.startswith("0000\n0001\n")
    assert text.endswith("0998\n0999\n")
    assert "[... 4900 bytes truncated ...]" in text


def test_output_buffer_small_output_untouched():
    buf = OutputBuffer(limit=100)
    buf.add(b"hello ")
    buf.add(b"world")
    assert (buf.text(), buf.truncated, buf.total) == ("hello world", False, 11)


def test_clip_text():
    assert clip_text("short", 10) == ("short", False)
    clipped, cut = clip_text("x" * 1000 + "END", 200)
    assert cut and clipped.endswith("END") and len(clipped) < 260


def test_clip_json_counts_characters_as_json_sends_them():
    assert clip_json("plain", 10) == ("plain", False)
    for text in ("\0" * 5000 + "END", '"\n' * 5000 + "END", "é" * 5000 + "END"):
        clipped, cut = clip_json(text, 1000)
        assert cut and json_chars(clipped) <= 1000 and clipped.endswith("END"), text[:3]
        assert json_chars(clipped) > 900  # not clipped far more than needed


async def test_run_keeps_stdout_stderr_and_exit_code():
    r = await local().run("echo out; echo err >&2; exit 3")
    assert (r.stdout, r.stderr, r.exit_code, r.timed_out) == ("out\n", "err\n", 3, False)
    assert r.stdout_bytes == 4 and r.duration_ms > 0


async def test_cwd_env_and_stdin(tmp_path: Path):
    ex = local(env={"FROM_INVENTORY": "inv"}, cwd=str(tmp_path))
    r = await ex.run('pwd; echo "$FROM_INVENTORY $EXTRA"; cat', env={"EXTRA": "x y"}, stdin="from stdin")
    assert r.stdout == f"{tmp_path}\ninv x y\nfrom stdin"


async def test_timeout_kills_the_whole_process_tree():
    marker = f"gtp-local-{os.getpid()}"
    # Durations no other process on the machine is likely to be sleeping (a "sleep 200" in a
    # developer's own shell once failed this test).
    outer, inner = f"sleep 200.{os.getpid()}", f"sleep 300.{os.getpid()}"
    started = time.monotonic()
    r = await local().run(f"sh -c '{inner}; echo {marker}' & {outer}; echo never", timeout=0.5)
    assert r.timed_out and r.exit_code is None
    assert time.monotonic() - started < 5
    # SIGKILL went to the whole group; give a loaded machine a moment to finish the exits, and
    # ignore zombies (dead, waiting to be reaped by whoever inherited them).
    for _ in range(50):
        ps = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout
        alive = [line for line in ps.splitlines() if not line.lstrip().startswith("Z")]
        if not any(inner in line or outer in line for line in alive):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"still running 5 s after the timeout:\n{ps}")


async def test_cancel_kills_the_command():
    task = asyncio.ensure_future(local().run("sleep 301"))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.1)
    assert "sleep 301" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


async def test_output_limit_keeps_head_and_tail():
    r = await local().run("seq 1 200000", output_limit=1000)
    assert r.truncated and r.stdout_bytes == len("\n".join(map(str, range(1, 200001)))) + 1
    assert r.stdout.startswith("1\n2\n3\n") and r.stdout.endswith("199999\n200000\n")
    assert "bytes truncated" in r.stdout and len(r.stdout) < 1100


async def test_stream_yields_output_before_the_command_ends():
    seen: list[tuple[float, Output | RunResult]] = []
    started = time.monotonic()
    async for event in local().stream("echo one; sleep 0.5; echo two >&2"):
        seen.append((time.monotonic() - started, event))
    first_time, first = seen[0]
    assert first == Output("stdout", "one\n") and first_time < 0.4
    assert seen[1][1] == Output("stderr", "two\n")
    final = seen[-1][1]
    assert isinstance(final, RunResult) and final.exit_code == 0 and final.stderr == "two\n"


async def test_files_roundtrip_atomic_write_and_list(tmp_path: Path):
    ex = local(root=str(tmp_path))
    (tmp_path / "keep.sh").write_text("old")
    os.chmod(tmp_path / "keep.sh", 0o750)
    st = await ex.write_file("keep.sh", "new content")
    assert (tmp_path / "keep.sh").read_text() == "new content"
    assert st.mode == "0o750" and st.size == 11  # the mode of the file it replaced is kept
    assert [p.name for p in tmp_path.iterdir() if "gtp-tmp" in p.name] == []
    await ex.write_file("log.txt", "a\n")
    await ex.write_file("log.txt", "b\n", mode="append")
    assert await ex.read_file("log.txt") == b"a\nb\n"
    assert await ex.read_file("log.txt", offset=2, limit=1) == b"b"
    with pytest.raises(RemoteFileError, match="file exists"):
        await ex.write_file("log.txt", "x", mode="create")
    (tmp_path / "sub").mkdir()
    entries = await ex.list_dir(".")
    assert [(e.name, e.type) for e in entries] == [("keep.sh", "file"), ("log.txt", "file"), ("sub", "dir")]
    assert (await ex.stat("sub")).type == "dir"


async def test_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(RemoteFileError, match="No such file"):
        await local(root=str(tmp_path)).read_file("absent.txt")


async def test_paths_are_confined_to_root(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").write_text("s")
    (root / "escape").symlink_to(tmp_path / "secret")
    (root / "dirlink").symlink_to(tmp_path)
    ex = local(root=str(root))
    for path in ("../secret", str(tmp_path / "secret"), "escape", "dirlink/secret", "sub/../../secret"):
        with pytest.raises(PathNotAllowedError, match="outside its root"):
            await ex.read_file(path)
    with pytest.raises(PathNotAllowedError):
        await ex.write_file("dirlink/new.txt", "x")
    assert not (tmp_path / "new.txt").exists()
    # A link to nothing outside: appending through it would create its target.
    (root / "dangling").symlink_to(tmp_path / "planted.txt")
    (root / "chain").symlink_to("dangling")
    for path in ("dangling", "chain"):
        for mode in ("append", "overwrite", "create"):
            with pytest.raises(PathNotAllowedError, match="outside its root"):
                await ex.write_file(path, "x", mode=mode)
    assert not (tmp_path / "planted.txt").exists()
    (root / "later").symlink_to("inside-later.txt")  # a link to nothing inside is fine
    await ex.write_file("later", "made", mode="append")
    assert (root / "inside-later.txt").read_text() == "made"
    # A target outside is refused as such (403), before anything there is looked up (no 404
    # telling what exists outside).
    (root / "far").symlink_to(tmp_path / "no-such-dir" / "x")
    with pytest.raises(PathNotAllowedError, match="outside its root"):
        await ex.write_file("far", "x", mode="append")
    # `..` after a link is the kernel's: deep/a/b/.. is deep/a, not root.
    (root / "deep" / "a" / "b").mkdir(parents=True)
    (root / "s").symlink_to(root / "deep" / "a" / "b")
    (root / "tricky").symlink_to("s/../made.txt")
    await ex.write_file("tricky", "here", mode="append")
    assert (root / "deep" / "a" / "made.txt").read_text() == "here" and not (root / "made.txt").exists()
    # A root written through a link (a "current" release link): a link to nothing that names
    # root the same way is inside.
    (tmp_path / "current").symlink_to(root)
    (root / "via-current").symlink_to(tmp_path / "current" / "via.txt")
    await local(root=str(tmp_path / "current")).write_file("via-current", "ok", mode="append")
    assert (root / "via.txt").read_text() == "ok"
    await ex.write_file("inside.txt", "ok")
    assert (root / "inside.txt").read_text() == "ok"


async def test_pipes_and_devices_are_refused_not_waited_on(tmp_path: Path):
    os.mkfifo(tmp_path / "fifo")
    ex = local(root=str(tmp_path))
    calls = (ex.read_file("fifo"), ex.write_file("fifo", "x", mode="append"), local().read_file("/dev/zero"))
    for call in calls:
        with pytest.raises(InvalidRequestError, match="is not a regular file"):
            await asyncio.wait_for(call, 5)
    with pytest.raises(InvalidRequestError, match="is a directory"):
        await local().read_file(str(tmp_path))
    # A pipe swapped in after that check (the node says a regular file was found there): the
    # open itself refuses it without waiting.
    directory = os.open(tmp_path, os.O_RDONLY)
    fifo = os.open(tmp_path / "fifo", os.O_PATH)
    for raw in (
        lambda: confined.append(
            confined.Node(None, os.stat(__file__), directory, "fifo", None), None, [b"x"], "f"
        ),
        lambda: confined.Tree(str(tmp_path)).reopen(
            confined.Node(fifo, os.stat(__file__), None, None, None), 0, "f"
        ),
    ):
        with pytest.raises(confined.FsError, match=r"not a regular file|replaced while it was opened"):
            await asyncio.wait_for(asyncio.to_thread(raw), 5)
    os.close(directory)
    os.close(fifo)


def test_an_append_that_cannot_be_written_whole_is_an_error(tmp_path: Path):
    """A file-size limit stops a raw write short: a buffered one raises instead of half-writing."""
    script = f"""
import asyncio, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))
from tests.test_local import local
try:
    asyncio.run(local(root={str(tmp_path)!r}).write_file("big.log", "x" * 1000, mode="append"))
except Exception as exc:
    print(type(exc).__name__, exc)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "File too large" in out.stdout, (out.stdout, out.stderr)


async def test_check():
    result = await local().check()
    assert result.reachable and result.protocol == "local" and result.hostname


async def test_a_cwd_that_is_not_there_is_the_requests_mistake_and_check_reports_it(tmp_path: Path):
    with pytest.raises(InvalidRequestError, match=f"here: cannot enter cwd {tmp_path}/nope: No such file"):
        await local().run("true", cwd=str(tmp_path / "nope"))
    result = await local(cwd=str(tmp_path / "gone")).check()
    assert not result.reachable and result.error and "cannot enter cwd" in result.error["message"]


async def test_nul_bytes_and_bad_env_names_are_refused_before_running():
    from gtp_remote.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="command: contains a NUL byte"):
        await local().run("echo a\x00b")
    with pytest.raises(InvalidRequestError, match=r"env\.A: is not valid UTF-8 text"):
        await local().run("true", env={"A": "\ud800"})  # JSON can carry a lone surrogate
    with pytest.raises(InvalidRequestError, match="env: '1X' is not a variable name"):
        await local().run("true", env={"1X": "y"})


async def test_local_commands_never_see_the_gateways_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A caller allowed to run commands cannot read a token allowed more, nor a model's key."""
    from gtp_remote.api.state import Api
    from gtp_remote.config import load_inventory
    from gtp_remote.gateway import Gateway
    from gtp_remote.settings import Settings
    from gtp_remote.tokens import Authenticator, load_tokens

    monkeypatch.setenv("OPS_TOKEN", "ops-secret-value")
    monkeypatch.setenv("CLOUD_KEY", "model-key-value")
    monkeypatch.setenv("GTP_API_TOKEN", "unused-but-secret")
    monkeypatch.setenv("PLAIN_SETTING", "kept")
    (tmp_path / "tokens.yaml").write_text("tokens:\n  ops: {env: OPS_TOKEN, operations: [approve]}\n")
    monkeypatch.setenv("GTP_TOKENS_FILE", str(tmp_path / "tokens.yaml"))
    (tmp_path / "hosts").mkdir()
    (tmp_path / "hosts" / "servers.yaml").write_text(
        "servers:\n  here: {protocol: local}\n"
        "llm:\n  providers:\n    cloud: {type: openai, baseUrl: 'http://127.0.0.1:9', apiKeyEnv: CLOUD_KEY}\n"
    )
    settings = replace(Settings.from_env(), state_dir=tmp_path / "state")
    auth = Authenticator(load_tokens(settings))
    api = Api(Gateway(load_inventory(tmp_path / "hosts"), settings), auth)
    try:
        r = await api.gateway.executor("here").run("env", env={"GIVEN": "by the request"})
    finally:
        await api.gateway.close()
    seen = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert (seen.get("PLAIN_SETTING"), seen.get("GIVEN")) == ("kept", "by the request")
    for name in ("OPS_TOKEN", "CLOUD_KEY", "GTP_API_TOKEN", "GTP_TOKENS_FILE"):
        assert name not in seen, name
    for value in ("ops-secret-value", "model-key-value", "unused-but-secret"):
        assert value not in r.stdout
    assert auth.secrets_for_redaction() == ["ops-secret-value"]  # the audit log blanks it too
