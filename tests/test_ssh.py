"""The ssh executor against real OpenSSH sshd hosts of the test bed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gtp_remote.config import Server
from gtp_remote.errors import (
    AuthFailedError,
    ConnectionLostError,
    HostKeyError,
    HostUnreachableError,
    InvalidRequestError,
    InventoryError,
    PathNotAllowedError,
    TunnelError,
    UnknownServerError,
)
from gtp_remote.executors.base import Output, RunResult
from gtp_remote.executors.ssh import SSHExecutor
from gtp_remote.gateway import Gateway
from gtp_remote.settings import Settings
from tests.conftest import Bed, fan_out, make_inventory

pytestmark = pytest.mark.bed


def gateway(settings: Settings, *servers) -> Gateway:
    return Gateway(make_inventory(*servers), settings)


async def test_command_output_exit_code_and_stderr(bed_gateway: Gateway):
    r = await bed_gateway.executor("db").run("hostname; echo oops >&2; exit 7")
    assert (r.stdout, r.stderr, r.exit_code, r.timed_out) == ("db\n", "oops\n", 7, False)
    assert (await bed_gateway.executor("code").run("uname -n")).stdout == "code\n"


async def test_env_cwd_and_stdin(bed_gateway: Gateway):
    r = await bed_gateway.executor("db").run(
        'pwd; echo "$A|$B"; cat', cwd="/tmp", env={"A": "it's", "B": "$(no expansion)"}, stdin=b"piped"
    )
    assert r.stdout == "/tmp\nit's|$(no expansion)\npiped"
    r = await bed_gateway.executor("db").run("pwd", cwd="/does/not/exist")
    assert r.exit_code == 126 and "can't cd" in r.stderr


async def test_output_streams_as_it_arrives(bed_gateway: Gateway):
    arrivals = []
    started = time.monotonic()
    async for event in bed_gateway.executor("db").stream("echo first; sleep 0.6; echo second"):
        arrivals.append((time.monotonic() - started, event))
    assert arrivals[0][1] == Output("stdout", "first\n")
    assert arrivals[0][0] < arrivals[-1][0] - 0.4  # the first line came well before the end
    final = arrivals[-1][1]
    assert isinstance(final, RunResult) and final.stdout == "first\nsecond\n"


async def test_timeout_kills_the_remote_process_tree(bed_gateway: Gateway, bed: Bed):
    marker = f"gtp-ssh-timeout-{os.getpid()}"
    started = time.monotonic()
    r = await bed_gateway.executor("db").run(
        f"sh -c 'sleep 377 # {marker}' & sleep 388; echo never", timeout=1
    )
    assert r.timed_out and r.exit_code is None and "never" not in r.stdout
    assert time.monotonic() - started < 5
    await asyncio.sleep(0.3)
    ps = await bed_gateway.executor("db").run("ps -eo args")  # ps on that host, after the kill
    assert "sleep 388" not in ps.stdout and marker not in ps.stdout
    assert "ps -eo args" in ps.stdout  # (ps did list the host's processes)


async def test_output_limit_keeps_head_and_tail(bed_gateway: Gateway):
    r = await bed_gateway.executor("db").run("seq 1 300000", output_limit=2000)
    assert r.truncated and r.stdout_bytes > 1_000_000
    assert r.stdout.startswith("1\n2\n") and r.stdout.endswith("299999\n300000\n")


async def test_200_concurrent_commands_on_one_host_zero_failures(bed_gateway: Gateway, bed: Bed):
    # The bed's sshd runs with the default MaxSessions 10.
    assert "MaxSessions" not in (bed.hosts["db"].dir / "sshd_config").read_text()
    ex = bed_gateway.executor("db")
    results = await asyncio.gather(*(ex.run(f"echo {i}") for i in range(200)), return_exceptions=True)
    failures = [r for r in results if not isinstance(r, RunResult) or r.exit_code != 0]
    assert failures == []
    assert sorted(int(r.stdout) for r in results) == list(range(200))


async def test_connection_is_pooled(bed_gateway: Gateway):
    ex = bed_gateway.executor("db")
    assert isinstance(ex, SSHExecutor)
    await ex.run("true")
    conn = await ex.connection()
    await asyncio.gather(*(ex.run("true") for _ in range(20)))
    assert await ex.connection() is conn


async def test_unknown_server(bed_gateway: Gateway):
    with pytest.raises(UnknownServerError, match=r"unknown server 'dbb'; did you mean 'db'\?"):
        await bed_gateway.executor("dbb").run("true")


async def test_wrong_key_is_an_auth_failure(bed: Bed, settings: Settings):
    wrong = bed.hosts["db"].dir / "ssh_host_ed25519_key"  # a real key, just not the user's
    async with gateway(settings, bed.server("db", identity_files=[str(wrong)])) as gw:
        with pytest.raises(
            AuthFailedError, match=r"ssh authentication failed for gtptest@db \(10\.203\.0\.11:22\)"
        ):
            await gw.executor("db").run("true")


async def test_unreachable_host(bed: Bed, settings: Settings):
    refused = bed.server("db", port=2222)  # nothing listens there
    silent = bed.server("k8s-master", host="10.203.0.250", connect_timeout=1.5)  # no such host
    async with gateway(settings, refused, silent) as gw:
        with pytest.raises(HostUnreachableError, match=r"db \(10\.203\.0\.11:2222\) refused the connection"):
            await gw.executor("db").run("true")
        started = time.monotonic()
        with pytest.raises(HostUnreachableError, match=r"did not answer within 1\.5s"):
            await gw.executor("k8s-master").run("true")
        assert time.monotonic() - started < 3


def fingerprint(bed: Bed, host: str) -> str:
    """The SHA256 fingerprint of a bed host's key, as OpenSSH's own ssh-keygen prints it."""
    pub = bed.hosts[host].dir / "ssh_host_ed25519_key.pub"
    return subprocess.run(
        ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
    ).stdout.split()[1]


async def test_host_key_mismatch_is_refused_with_both_fingerprints(
    bed: Bed, settings: Settings, tmp_path: Path
):
    known = tmp_path / "known_hosts"
    known.write_text(f"{bed.hosts['db'].ip} {bed.hosts['code'].public_key}\n")  # code's key, claimed for db
    for policy in ("strict", "accept-new"):
        async with gateway(settings, bed.server("db", known_hosts=str(known), host_key_policy=policy)) as gw:
            with pytest.raises(HostKeyError) as info:
                await gw.executor("db").run("true")
        message = str(info.value)
        expected, claimed = fingerprint(bed, "db"), fingerprint(bed, "code")
        assert "host key mismatch for db (10.203.0.11:22)" in message
        assert f"it presented {expected}" in message and f"known_hosts has {claimed}" in message
    assert not settings.known_hosts.exists()  # nothing was pinned


async def test_unknown_host_key_is_refused_under_strict(bed: Bed, settings: Settings, tmp_path: Path):
    async with gateway(settings, bed.server("db", known_hosts=str(tmp_path / "empty"))) as gw:
        with pytest.raises(
            HostKeyError, match=r"host key of db \(10\.203\.0\.11:22\) is not known: it presented SHA256:"
        ):
            await gw.executor("db").run("true")


async def test_accept_new_pins_the_key_then_holds_it(bed: Bed, settings: Settings, tmp_path: Path):
    server = bed.server("db", known_hosts=str(tmp_path / "empty"), host_key_policy="accept-new")
    async with gateway(settings, server) as gw:
        assert (await gw.executor("db").run("hostname")).stdout == "db\n"
        assert (await gw.executor("db").check()).host_key == "pinned"
    assert settings.known_hosts.read_text() == f"{bed.hosts['db'].ip} {bed.hosts['db'].public_key}\n"
    assert oct(settings.known_hosts.stat().st_mode & 0o777) == "0o600"
    async with gateway(settings, server) as gw:  # a new process: the pin is what it trusts now
        assert (await gw.executor("db").check()).host_key == "trusted"
    # The pinned key is enforced: the same address presenting another key is refused.
    other = bed.server("code", host=bed.hosts["db"].ip, known_hosts=str(tmp_path / "empty"))
    settings.known_hosts.write_text(f"{bed.hosts['db'].ip} {bed.hosts['code'].public_key}\n")
    async with gateway(settings, other.model_copy(update={"host_key_policy": "accept-new"})) as gw:
        with pytest.raises(HostKeyError, match="host key mismatch"):
            await gw.executor("code").run("true")


async def test_sftp_read_write_list_on_the_host_not_the_gateway(bed_gateway: Gateway, bed: Bed):
    ex = bed_gateway.executor("code")
    name = f"gtp-sftp-{os.getpid()}.txt"
    stat = await ex.write_file(name, "written over sftp\n")
    on_host = bed.hosts["code"].home / name
    assert on_host.read_text() == "written over sftp\n"  # on code's disk...
    assert not (bed.hosts["db"].home / name).exists()  # ...not db's...
    assert not Path("/home/gtptest", name).exists()  # ...nor the gateway's
    assert stat.path == f"/home/gtptest/{name}" and stat.size == 18
    assert await ex.read_file(name) == b"written over sftp\n"
    assert await ex.read_file(name, offset=8, limit=4) == b"over"
    await ex.write_file(name, "more\n", mode="append")
    assert on_host.read_text() == "written over sftp\nmore\n"
    assert name in [e.name for e in await ex.list_dir(".")]
    assert not [p for p in bed.hosts["code"].home.iterdir() if "gtp-tmp" in p.name]


async def test_sftp_atomic_overwrite_keeps_mode(bed_gateway: Gateway, bed: Bed):
    ex = bed_gateway.executor("db")
    await bed_gateway.executor("db").run("printf old > run.sh && chmod 750 run.sh")
    stat = await ex.write_file("run.sh", "new")
    assert stat.mode == "0o750"
    assert (bed.hosts["db"].home / "run.sh").read_text() == "new"


async def test_sftp_refuses_a_pipe_instead_of_blocking_the_connections_files(bed_gateway: Gateway, bed: Bed):
    assert (await bed_gateway.executor("code").run("rm -f sftp.fifo && mkfifo sftp.fifo")).exit_code == 0
    ex = bed_gateway.executor("code")
    for call in (ex.read_file("sftp.fifo"), ex.write_file("sftp.fifo", "x", mode="append")):
        with pytest.raises(InvalidRequestError, match=r"sftp\.fifo on code is not a regular file"):
            await asyncio.wait_for(call, 5)
    await asyncio.wait_for(ex.write_file("after-fifo.txt", "still works"), 5)
    assert (bed.hosts["code"].home / "after-fifo.txt").read_text() == "still works"


async def test_sftp_paths_are_confined_to_root(bed: Bed, settings: Settings):
    setup = (
        "mkdir -p data/sub && echo secret > outside.txt"
        " && ln -sfn ../outside.txt data/escape && ln -sfn .. data/up"
        " && rm -f planted.txt && ln -sfn ../planted.txt data/dangling"
    )
    async with gateway(settings, bed.server("db")) as gw:
        assert (await gw.executor("db").run(setup)).exit_code == 0
    confined = bed.server("db", root="/home/gtptest/data")
    async with gateway(settings, confined) as gw:
        ex = gw.executor("db")
        for path in (
            "../outside.txt",
            "/home/gtptest/outside.txt",
            "escape",
            "up/outside.txt",
            "sub/../../outside.txt",
        ):
            with pytest.raises(PathNotAllowedError, match="leads outside its root '/home/gtptest/data'"):
                await ex.read_file(path)
        with pytest.raises(PathNotAllowedError):
            await ex.write_file("up/planted.txt", "x")
        assert not (bed.hosts["db"].home / "planted.txt").exists()
        for mode in ("append", "overwrite"):  # a link to nothing outside: append would create it
            with pytest.raises(PathNotAllowedError, match="leads outside its root"):
                await ex.write_file("dangling", "x", mode=mode)
        assert not (bed.hosts["db"].home / "planted.txt").exists()
        await ex.write_file("sub/ok.txt", "inside")
        assert (bed.hosts["db"].home / "data/sub/ok.txt").read_text() == "inside"
        assert [e.name for e in await ex.list_dir(".")] == ["dangling", "escape", "sub", "up"]


@pytest.fixture
def loopback_service(bed: Bed):
    """An HTTP server bound to 127.0.0.1 INSIDE the db host: reachable only through a tunnel."""
    port = 18000 + os.getpid() % 1000
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            bed.hosts["db"].netns,
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        if f":{port}" in bed.hosts["db"].sh("ss -ltn").stdout:
            break
        time.sleep(0.05)
    yield port
    proc.kill()
    proc.wait()


async def http_get(host: str, port: int) -> str:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    data = await reader.read()
    writer.close()
    return data.decode(errors="replace")


async def test_tunnel_to_a_service_bound_to_localhost_on_the_host(
    bed_gateway: Gateway, loopback_service: int
):
    with pytest.raises(OSError):  # not reachable from the gateway directly
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", loopback_service), 1)
    ex = bed_gateway.executor("db")
    address = await ex.open_tunnel("127.0.0.1", loopback_service)
    assert (await http_get(*address)).startswith("HTTP/1.0 200")
    assert await ex.open_tunnel("127.0.0.1", loopback_service) == address  # reused
    assert (await http_get(*address)).startswith("HTTP/1.0 200")
    # A reconnect drops the old tunnel with its connection; asking again opens a new one.
    await ex.close()
    again = await ex.open_tunnel("127.0.0.1", loopback_service)
    assert (await http_get(*again)).startswith("HTTP/1.0 200")


async def test_tunnel_to_nothing_says_so(bed_gateway: Gateway):
    with pytest.raises(TunnelError, match=r"nothing is answering on 127\.0\.0\.1:1 on db"):
        await bed_gateway.executor("db").open_tunnel("127.0.0.1", 1)


async def test_jump_host(bed: Bed, settings: Settings, tmp_path: Path):
    # sshd on db also listens on db's own 127.0.0.1: only a jump THROUGH db can reach it.
    known = tmp_path / "known_hosts"
    known.write_text(f"127.0.0.1 {bed.hosts['db'].public_key}\n")
    behind = bed.server("k8s-master", host="127.0.0.1", jump="db", known_hosts=str(known))
    async with gateway(settings, bed.server("db"), behind) as gw:
        r = await gw.executor("k8s-master").run("hostname; echo $SSH_CONNECTION")
        assert r.stdout.split("\n")[0] == "db"
        assert r.stdout.split("\n")[1].startswith("127.0.0.1 ")  # it arrived from db's loopback


async def test_killed_session_fails_clearly_and_next_command_reconnects(bed_gateway: Gateway, bed: Bed):
    ex = bed_gateway.executor("k8s-master")
    assert (await ex.run("true")).exit_code == 0
    task = asyncio.ensure_future(ex.run("sleep 30; echo finished"))
    await asyncio.sleep(0.5)
    # Kill the sshd process serving our connection on that host: only that host's (network
    # namespaces do not separate processes; --ns matches those in this shell's namespace).
    bed.hosts["k8s-master"].sh("pkill --ns $$ --nslist net -f '^sshd: gtptest'", check=False)
    with pytest.raises(ConnectionLostError, match=r"connection to k8s-master \(10\.203\.0\.13:22\) was lost"):
        await asyncio.wait_for(task, 10)
    r = await ex.run("hostname")
    assert (r.exit_code, r.stdout) == (0, "k8s-master\n")


async def test_ssh_config_is_honoured(bed: Bed, settings: Settings, tmp_path: Path):
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host bed-db\n  HostName {bed.hosts['db'].ip}\n  User {bed.user}\n  Port 22\n"
        f"  IdentityFile {bed.client_key}\n"
    )
    server = bed.server("db").model_copy(
        update={"host": "bed-db", "username": None, "identity_files": [], "port": None}
    )
    async with Gateway(make_inventory(server), Settings(settings.state_dir, ssh_config=config)) as gw:
        r = await gw.executor("db").run("id -un; hostname")
    assert r.stdout == "gtptest\ndb\n"


async def test_a_broken_known_hosts_or_ssh_config_is_a_typed_error_naming_the_file(
    bed: Bed, settings: Settings, tmp_path: Path
):
    """Set-up mistakes on the gateway's side: named, typed, and per host in a fan-out."""
    known = tmp_path / "known_hosts"
    known.write_text(f"{bed.hosts['db'].ip} {bed.hosts['db'].public_key}\nlonely-host-name\n")
    db = bed.server("db", known_hosts=str(known))
    async with gateway(settings, db, bed.server("code")) as gw:
        with pytest.raises(HostKeyError, match=f"known_hosts file {known}: Invalid known hosts entry"):
            await gw.executor("db").run("true")
        result = await fan_out(gw, "db,code", "hostname")
        assert [(h.server, h.status) for h in result.results] == [("db", "unreachable"), ("code", "ok")]
        assert result.results[0].error["code"] == "host_key_rejected"
    missing = tmp_path / "no-such-config"
    inventory = make_inventory(bed.server("db"))
    async with Gateway(inventory, Settings(settings.state_dir, ssh_config=missing)) as gw:
        with pytest.raises(InventoryError, match=f"ssh config {missing}: No such file or directory"):
            await gw.executor("db").run("true")
    broken = tmp_path / "ssh_config"
    broken.write_text("Host *\n  Port not-a-number\n")
    async with Gateway(inventory, Settings(settings.state_dir, ssh_config=broken)) as gw:
        with pytest.raises(InventoryError, match=f"ssh config {broken}: .*"):
            await gw.executor("db").run("true")


async def test_check_reports_reachability_latency_and_host(bed_gateway: Gateway):
    results = await bed_gateway.check(list(bed_gateway.inventory.servers))
    assert [r.server for r in results] == ["db", "code", "k8s-master"]
    for r in results:
        assert r.reachable and r.hostname == r.server and r.os.startswith("Linux")
        assert r.host_key == "trusted" and r.latency_ms > 0


async def test_a_nul_byte_never_reaches_sshd_nor_breaks_the_pool(bed_gateway: Gateway):
    from gtp_remote.errors import InvalidRequestError

    ex = bed_gateway.executor("db")
    running = asyncio.ensure_future(ex.run("sleep 0.5; echo survived"))
    await asyncio.sleep(0.1)
    with pytest.raises(InvalidRequestError):
        await ex.run("echo \x00")
    assert (await running).stdout == "survived\n"


# -- the persistent shell (executors/shells.py) ----------------------------------------------------


async def driver_pid(ex) -> str:
    """The pid of the shell that ran the command: the driver bash, or sshd's session process."""
    return (await ex.run("ps -o pid=,comm= -p $PPID")).stdout


async def test_commands_share_one_shell_and_nothing_leaks_between_them(bed_gateway: Gateway):
    ex = bed_gateway.executor("db")
    first = await driver_pid(ex)
    assert first.split()[1] == "bash"
    r = await ex.run("cd /tmp; export LEAK=1; umask 077; exit 3")
    assert r.exit_code == 3
    r = await ex.run('pwd; echo "${LEAK-unset}"; umask; echo "$0"')
    assert r.stdout == "/home/gtptest\nunset\n0022\nsh\n"  # a fresh `$SHELL -c` every time
    exact = {"printf abc": "abc", "printf 'a\\n\\n'": "a\n\n", "true": "", "printf '\\n'": "\n"}
    for command, out in exact.items():
        r = await ex.run(command + "; printf E >&2")
        assert (r.stdout, r.stderr) == (out, "E"), command
    assert await driver_pid(ex) == first  # all of it in one driver


async def test_output_is_exact_whatever_it_contains(bed_gateway: Gateway):
    ex = bed_gateway.executor("db")
    r = await ex.run("seq 1 100000; seq 1 50000 >&2")
    assert r.stdout == "".join(f"{i}\n" for i in range(1, 100001))
    assert r.stderr == "".join(f"{i}\n" for i in range(1, 50001))
    # Binary junk, lone newlines and text shaped like the framing come through untouched.
    r = await ex.run("printf '\\n0123456789abcdef 0 0\\n\\036\\036f 0 0\\n\\0\\377'")
    assert r.stdout == "\n0123456789abcdef 0 0\n\x1e\x1ef 0 0\n\x00\ufffd"


async def test_killed_by_a_signal_is_128_plus_n_with_no_shell_notice(bed_gateway: Gateway):
    r = await bed_gateway.executor("db").run("echo before; kill -9 $$")
    assert (r.exit_code, r.stdout, r.stderr) == (137, "before\n", "")


async def test_background_output_is_read_to_its_end_and_the_shell_retired(bed_gateway: Gateway, bed: Bed):
    ex = bed_gateway.executor("code")
    first = await driver_pid(ex)
    started = time.monotonic()
    # As over a channel of its own: output of what the command left running is kept...
    r = await ex.run("(sleep 0.5; echo late; echo err >&2) & echo now")
    assert (r.stdout, r.stderr, r.exit_code) == ("now\nlate\n", "err\n", 0)
    assert time.monotonic() - started >= 0.5
    # ...and a detached one with its output elsewhere does not hold the command up.
    marker = f"gtp-detached-{os.getpid()}"
    started = time.monotonic()
    r = await ex.run(f"nohup sh -c 'sleep 30 # {marker}' >/dev/null 2>&1 & echo started")
    assert r.stdout == "started\n" and time.monotonic() - started < 3
    assert marker in (await ex.run("ps -eo args")).stdout  # still running, as it should be
    bed.hosts["code"].sh(f"pkill -f {marker}", check=False)
    assert await driver_pid(ex) != first  # a shell with leftovers is never reused


async def test_a_dead_shell_fails_its_command_clearly_and_is_replaced(bed_gateway: Gateway):
    ex = bed_gateway.executor("db")
    died = r"the shell running the command on db \(10\.203\.0\.11:22\) ended"
    with pytest.raises(ConnectionLostError, match=died):
        await ex.run("kill -9 $PPID; sleep 0.2")
    pid = (await driver_pid(ex)).strip()
    await ex.run(f"kill -9 {pid}", stdin=b"x")  # from a channel of its own (stdin given), while idle
    r = await ex.run("hostname")
    assert (r.exit_code, r.stdout) == (0, "db\n")
    assert (await driver_pid(ex)).strip() != pid


async def test_commands_with_stdin_and_sftp_share_the_slots_with_shells(bed: Bed, settings: Settings):
    async with gateway(settings, bed.server("db", max_sessions=2)) as gw:
        ex = gw.executor("db")
        jobs = [ex.run(f"echo {i}") for i in range(30)]
        jobs += [ex.run("cat", stdin=f"in{i}".encode()) for i in range(10)]
        jobs += [ex.list_dir("/tmp") for _ in range(5)]
        results = await asyncio.gather(*jobs)
    assert [r.stdout for r in results[:40]] == [f"{i}\n" for i in range(30)] + [f"in{i}" for i in range(10)]
    assert all(isinstance(listing, list) for listing in results[40:])


async def test_a_host_without_bash_gets_a_channel_per_command(
    bed: Bed, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    from gtp_remote.executors import shells, ssh

    monkeypatch.setattr(ssh, "DRIVER_COMMAND", "exec no-such-bash --norc")
    async with gateway(settings, bed.server("db")) as gw:
        ex = gw.executor("db")
        parents = {(await driver_pid(ex)).split()[1] for _ in range(3)}
        r = await ex.run("hostname; exit 4")
        assert (r.stdout, r.exit_code) == ("db\n", 4)
        assert parents == {"sshd"}  # each command in a session of its own
    assert shells.DRIVER_COMMAND.endswith("exec bash --noprofile --norc")


async def test_persistent_shell_can_be_turned_off(bed: Bed, settings: Settings):
    async with gateway(settings, bed.server("db", persistent_shell=False)) as gw:
        parents = {(await driver_pid(gw.executor("db"))).split()[1] for _ in range(3)}
    assert parents == {"sshd"}


TRICKLE = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
while True:
    c, _ = s.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if c.recv(100):  # (open_tunnel's probe connects and hangs up)
            for piece in (b"head", b"token"):
                c.sendall(piece); time.sleep(0.002)
    except OSError:
        pass
    c.close()
"""


async def test_a_tunnel_on_a_fresh_connection_streams_without_a_nagle_stall(bed: Bed, settings: Settings):
    """sshd leaves Nagle on until a connection's first session: a reply's second small write
    then waits for the client's delayed ACK (~40 ms). open_tunnel starts a session first."""
    port = 19000 + os.getpid() % 1000
    server = subprocess.Popen(
        ["ip", "netns", "exec", bed.hosts["code"].netns, sys.executable, "-c", TRICKLE, str(port)]
    )
    try:
        for _ in range(100):
            if f":{port}" in bed.hosts["code"].sh("ss -ltn").stdout:
                break
            time.sleep(0.05)
        async with gateway(settings, bed.server("code")) as gw:  # a new connection, no session yet
            address = await gw.executor("code").open_tunnel("127.0.0.1", port)
            gaps = []
            for _ in range(5):
                reader, writer = await asyncio.open_connection(*address)
                writer.write(b"go")
                assert await reader.readexactly(4) == b"head"
                got_head = time.monotonic()
                assert await reader.readexactly(5) == b"token"
                gaps.append(time.monotonic() - got_head)
                writer.close()
        assert sorted(gaps)[2] < 0.025, gaps  # ~2 ms; a stalled write would take ~40 ms
    finally:
        server.kill()
        server.wait()


FIDELITY = [
    'echo "$0|${SHLVL-unset}|${FROM_RC-none}|$#|$LINENO"',
    "nosuchcommand",
    "cd /does/not/exist",
    "echo 'a\\nb'",
    "false; echo after",
    "trap; echo traps-done",
    'set | grep -c "^__" || true',
    "case $- in *m*) echo job-control;; *) echo no-job-control;; esac",
    "sleep 0.2 & wait; echo waited",
    "(exit 3)",
    "exit 4",
    "printf 'no newline'",
    "echo out; echo err >&2; kill -0 $$ && echo alive",
]


@contextlib.contextmanager
def bed_login(bed: Bed, shell: str, bashrc: str) -> Iterator[None]:
    """The bed user's login shell (shared by all bed hosts) and the ~/.bashrc that bash reads
    for ssh commands, for a while; both put back afterwards."""
    rc = bed.hosts["db"].home / ".bashrc"
    saved = rc.read_bytes() if rc.exists() else None
    rc.write_text(bashrc)
    subprocess.run(["usermod", "-s", shell, bed.user], check=True)
    try:
        yield
    finally:
        subprocess.run(["usermod", "-s", "/bin/sh", bed.user], check=True)
        if saved is None:
            rc.unlink()
        else:
            rc.write_bytes(saved)


@pytest.fixture(params=["/bin/sh", "/bin/bash"])
def login_shell(request: pytest.FixtureRequest, bed: Bed) -> Iterator[str]:
    with bed_login(bed, request.param, "export FROM_RC=yes\nset -e\n"):
        yield request.param


async def test_a_persistent_shell_answers_exactly_as_a_channel_of_its_own(
    login_shell: str, bed: Bed, settings: Settings
):
    answers = {}
    for persistent in (False, True):
        async with gateway(settings, bed.server("db", persistent_shell=persistent)) as gw:
            ex = gw.executor("db")
            answers[persistent] = [
                (r.stdout, r.stderr, r.exit_code) for r in [await ex.run(c) for c in FIDELITY]
            ]
            if persistent:  # and it was the persistent shell that answered, every time
                pids = {(await ex.run("echo $$" if login_shell == "/bin/bash" else "echo $PPID")).stdout}
                assert len(pids) == 1
    for command, channel, shell in zip(FIDELITY, answers[False], answers[True], strict=True):
        assert shell == channel, command
    name = login_shell.rsplit("/", 1)[1]
    assert answers[True][0][0].startswith(f"{name}|")
    if name == "bash":  # ~/.bashrc was read, and its set -e applied to the command
        assert answers[True][0][0] == "bash|1|yes|0|1\n" and answers[True][4] == ("", "", 1)


async def test_output_of_a_process_that_left_the_group_never_reaches_the_next_command(
    bed_gateway: Gateway,
):
    ex = bed_gateway.executor("db")
    first = await driver_pid(ex)
    r = await ex.run("setsid sh -c 'sleep 0.5; echo LATE' & sleep 0.2; echo first")  # gone by the end
    assert r.stdout == "first\nLATE\n"  # as over a channel: read until nothing holds the output
    r = await ex.run("sleep 0.7; echo second")
    assert r.stdout == "second\n"
    assert await driver_pid(ex) != first  # and that shell was not reused


async def test_a_timed_out_command_flooding_output_is_killed_on_time(bed_gateway: Gateway):
    started = time.monotonic()
    r = await bed_gateway.executor("db").run("yes", timeout=1)
    assert r.timed_out and r.stdout.startswith("y\ny\n")
    assert time.monotonic() - started < 2.5  # not the kill's grace period on top (was 3 s)
    assert (await bed_gateway.executor("db").run("echo after")).stdout == "after\n"


@pytest.fixture
def one_session_sshd(bed: Bed, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A second sshd on db, port 2222, with MaxSessions 1 (as some hardened hosts have)."""
    host = bed.hosts["db"]
    config = (host.dir / "sshd_config").read_text()
    config = config.replace(f"ListenAddress {host.ip}:22", f"ListenAddress {host.ip}:2222")
    config = config.replace("ListenAddress 127.0.0.1:22\n", "")
    config = config.replace(f"PidFile {host.dir}/sshd.pid", f"PidFile {tmp_path}/sshd.pid")
    (tmp_path / "sshd_config").write_text(config + "MaxSessions 1\n")
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            host.netns,
            "/usr/sbin/sshd",
            "-D",
            "-f",
            str(tmp_path / "sshd_config"),
            "-E",
            str(tmp_path / "sshd.log"),
        ]
    )
    known = tmp_path / "known_hosts"
    known.write_text(f"[{host.ip}]:2222 {host.public_key}\n")
    for _ in range(100):
        if (tmp_path / "sshd.pid").exists():
            break
        time.sleep(0.05)
    yield 2222, known
    proc.terminate()
    proc.wait()


async def test_one_session_channel_serves_commands_and_files_in_turn(
    bed: Bed, settings: Settings, one_session_sshd: tuple[int, Path]
):
    """Against sshd's MaxSessions 1, with max_sessions 1: SFTP does not keep the only channel,
    and a channel refused while sshd frees the last one is waited for."""
    port, known = one_session_sshd
    server = bed.server("db", port=port, known_hosts=str(known), max_sessions=1)
    async with gateway(settings, server) as gw:
        ex = gw.executor("db")
        for i in range(3):
            assert (await asyncio.wait_for(ex.run(f"echo {i}"), 15)).stdout == f"{i}\n"
            await asyncio.wait_for(ex.write_file("one-slot.txt", f"turn {i}"), 15)
            assert await asyncio.wait_for(ex.read_file("one-slot.txt"), 15) == f"turn {i}".encode()
        both = await asyncio.wait_for(asyncio.gather(ex.run("echo both"), ex.read_file("one-slot.txt")), 15)
        assert both[0].stdout == "both\n" and both[1] == b"turn 2"


async def _run_after_a_read_cancelled_while_sftp_starts(
    settings: Settings, server: Server, monkeypatch: pytest.MonkeyPatch, start: Any
) -> RunResult:
    """Cancel a file read while SFTP starts (``start`` stands in for asyncssh's), then run; the
    server goes by name over SFTP (``files: sftp``): tests/test_confinement.py does the same to
    the helper that otherwise serves its files."""
    import asyncssh

    real = asyncssh.SSHClientConnection.start_sftp_client
    async with gateway(settings, server) as gw:
        ex = gw.executor("db")
        await ex.run("true")
        monkeypatch.setattr(asyncssh.SSHClientConnection, "start_sftp_client", start)
        task = asyncio.ensure_future(ex.read_file("/etc/hostname"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        monkeypatch.setattr(asyncssh.SSHClientConnection, "start_sftp_client", real)
        return await asyncio.wait_for(ex.run("echo free"), 8)


async def test_an_sftp_channel_confirmed_after_its_opener_was_cancelled_is_closed(
    bed: Bed, settings: Settings, one_session_sshd: tuple[int, Path], monkeypatch: pytest.MonkeyPatch
):
    """Against MaxSessions 1: a channel left open by a cancelled opener would hold sshd's only
    session for the connection's life, and every later command would be refused."""
    import asyncssh

    real = asyncssh.SSHClientConnection.start_sftp_client

    async def slow(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        client = await real(self, *args, **kwargs)  # the channel is open on sshd's side...
        await asyncio.sleep(0.5)  # ...and its opener is cancelled before this returns
        return client

    port, known = one_session_sshd
    server = bed.server("db", port=port, known_hosts=str(known), max_sessions=1, files="sftp")
    result = await _run_after_a_read_cancelled_while_sftp_starts(settings, server, monkeypatch, slow)
    assert result.stdout == "free\n"


async def test_a_file_operation_cancelled_while_sftp_starts_gives_the_only_slot_back(
    bed: Bed, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    async def stuck(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await asyncio.sleep(30)

    server = bed.server("db", max_sessions=1, files="sftp")
    result = await _run_after_a_read_cancelled_while_sftp_starts(settings, server, monkeypatch, stuck)
    assert result.stdout == "free\n"


async def test_cancelled_twice_while_starting_gives_its_slot_back(
    bed: Bed, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    from gtp_remote.executors import shells

    real_start = shells.ShellCommand.start

    async def slow_start(self, script: str) -> None:  # type: ignore[no-untyped-def]
        await real_start(self, script)
        await asyncio.sleep(1)

    async with gateway(settings, bed.server("db", max_sessions=1)) as gw:
        ex = gw.executor("db")
        await ex.run("true")
        monkeypatch.setattr(shells.ShellCommand, "start", slow_start)
        task = asyncio.ensure_future(ex.run("yes"))
        await asyncio.sleep(0.3)
        task.cancel()  # cancelled while starting: kill() runs...
        await asyncio.sleep(0.05)
        task.cancel()  # ...and is cancelled again
        with pytest.raises(asyncio.CancelledError):
            await task
        monkeypatch.setattr(shells.ShellCommand, "start", real_start)
        r = await asyncio.wait_for(ex.run("echo hi"), 10)
        assert r.stdout == "hi\n"


async def test_a_login_shell_that_talks_on_stderr_still_gets_its_shells_reused(bed: Bed, settings: Settings):
    with bed_login(bed, "/bin/bash", "echo rc-noise >&2\n"):
        async with gateway(settings, bed.server("db")) as gw:
            ex = gw.executor("db")
            drivers = set()
            for _ in range(3):
                r = await ex.run("ps -o pid= -p $PPID")
                assert r.stderr == "rc-noise\n"  # the command's own bash -c reads it, as under sshd
                drivers.add(r.stdout)
        assert len(drivers) == 1
