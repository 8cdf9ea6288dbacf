"""Confinement that checks and uses the same object, against a process racing it.

A process on the host swaps a folder inside ``root`` with a symlink to a folder outside, with
renameat2(RENAME_EXCHANGE) in a tight loop, while reads, writes, appends, listings, conditional
rewrites and patches go through the executor (local, and over SSH through the helper) and through
HTTP. Nothing may ever be read from, listed in or written to the outside folder, and work inside
must still get done. Then the path corpus: loops, dangling links, ``..`` after links, FIFOs and
devices, a root that is itself a link, relative and unicode names, big files; and what happens
on a host without python3.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gtp_remote.access import Principal
from gtp_remote.api.routes import create_app
from gtp_remote.api.state import Api
from gtp_remote.config import Server
from gtp_remote.errors import (
    ConfinementUnavailableError,
    FileChangedError,
    FileMissingError,
    GtpError,
    InvalidRequestError,
    PathChangedError,
    PathNotAllowedError,
    PayloadTooLargeError,
)
from gtp_remote.executors import confined
from gtp_remote.executors.base import Executor
from gtp_remote.executors.filehelper import BOOTSTRAP, SOURCE
from gtp_remote.executors.local import LocalExecutor
from gtp_remote.gateway import FilePatch, Gateway
from gtp_remote.settings import Settings
from gtp_remote.tokens import Authenticator, Token, digest
from tests.conftest import Bed, make_inventory

ATTEMPTS = 300  # per kind of operation, under the race
HOSTNAME = Path("/etc/hostname").read_bytes()  # the bed's hosts share the machine's /etc
OWNER = Principal.owner("test", front_end="test")

# The attacker: swaps two names atomically as fast as it can, until a stop file appears, an even
# number of times (so the folder is back where it was when it stops). ctypes: python3 only.
SWAPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b, stop = (os.fsencode(x) for x in sys.argv[1:4])
n = 0
while not os.path.exists(stop):
    for _ in range(1000):
        if libc.renameat2(-100, a, -100, b, 2) != 0:
            raise OSError(ctypes.get_errno(), "renameat2")
    n += 1000
print(n)
"""
PATCH = "--- a/p\n+++ b/p\n@@ -1 +1,2 @@\n line\n+more\n"


def make_layout(base: Path) -> None:
    """root/a is a folder; root/b a link to ../outside, which holds files named as a's."""
    root, outside = base / "root", base / "outside"
    for folder, secret, marker in (
        (root / "a", "inside\n", "INSIDE-MARKER"),
        (outside, "SECRET\n", "OUTSIDE-MARKER"),
    ):
        folder.mkdir(parents=True)
        (folder / "secret.txt").write_text(secret)
        (folder / marker).write_text("")
        (folder / "f").write_text("line\n")
        (folder / "p").write_text("line\n")
        (folder / "log.txt").write_text("start\n")
    (root / "b").symlink_to("../outside")
    (root / "keep.txt").write_text("kept\n")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@dataclass
class Tally:
    ok: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    escapes: list[str] = field(default_factory=list)

    def inside(self, kind: str, path: str, root: str) -> None:
        """An answer's real path: below root, or an escape."""
        if path == root or path.startswith(root + "/"):
            self.ok[kind] += 1
        else:
            self.escapes.append(f"{kind}: {path}")


async def hammer(ex: Executor, root_real: str, attempts: int, gateway: Gateway | None = None) -> Tally:
    """Every kind of file call, ``attempts`` times each, on names inside the swapped folder."""
    t = Tally()
    for i in range(attempts):
        try:
            stat, data = await ex.read_file_stat("a/secret.txt")
            if data != b"inside\n":
                t.escapes.append(f"read returned {data!r}")
            t.inside("read", stat.path, root_real)
        except GtpError:
            t.refused["read"] += 1
        try:
            names = [e.name for e in await ex.list_dir("a")]
            if "OUTSIDE-MARKER" in names:
                t.escapes.append("listed the outside folder")
            else:
                t.ok["list"] += 1
        except GtpError:
            t.refused["list"] += 1
        for kind, call in (
            ("write", ex.write_file(f"a/w-{i}.txt", "w")),
            ("create", ex.write_file(f"a/c-{i}.txt", "c", mode="create")),
            ("append", ex.write_file("a/log.txt", f"{i}\n", mode="append")),
            ("stat", ex.stat("a/f")),
        ):
            try:
                t.inside(kind, (await call).path, root_real)
            except GtpError:
                t.refused[kind] += 1
        try:  # read-modify-write, as a patch does: the rewrite only if the file is the one read
            stat, data = await ex.read_file_stat("a/f")
            t.inside("rmw", (await ex.write_file("a/f", b"line\n", if_version=stat.version)).path, root_real)
        except GtpError:
            t.refused["rmw"] += 1
        if gateway is not None:
            try:
                plan = await gateway.plan(OWNER, FilePatch("a/p", PATCH, server=ex.name))
                t.inside("patch", (await gateway.perform(plan)).path, root_real)
            except GtpError:
                t.refused["patch"] += 1
        stat, data = await ex.read_file_stat("keep.txt")  # beside the race: always works
        assert data == b"kept\n" and stat.path == f"{root_real}/keep.txt"
        t.ok["keep"] += 1
    return t


def check(t: Tally, outside_before: dict[str, bytes], outside: Path, attempts: int) -> None:
    assert t.escapes == []
    assert snapshot(outside) == outside_before, "something was written outside root"
    assert t.ok["keep"] == attempts
    for kind in ("read", "list", "write", "create", "append", "stat", "rmw"):
        assert t.ok[kind] + t.refused[kind] == attempts, kind
        assert t.ok[kind] > 0, f"{kind} never worked under the race: {t}"
    assert sum(t.refused.values()) > 0, f"the race never showed: {t}"  # the swapper was felt


def local(root: Path | str | None, **changes: object) -> LocalExecutor:
    return LocalExecutor(Server(name="here", protocol="local", root=str(root) if root else None, **changes))


@contextlib.contextmanager
def walk_only(enabled: bool) -> Iterator[None]:
    """The hand-written walk instead of openat2 (kernels before 5.6, seccomp filters)."""
    saved = confined.OPENAT2.usable
    if enabled:
        confined.OPENAT2.usable = False
    try:
        yield
    finally:
        confined.OPENAT2.usable = saved


@contextlib.contextmanager
def portable() -> Iterator[None]:
    """As on a system without O_PATH and /proc (not Linux): the walk with plain descriptors."""
    saved = confined.O_PATH, confined.HAVE_PROC, confined.OPENAT2.usable
    confined.O_PATH, confined.HAVE_PROC, confined.OPENAT2.usable = 0, False, False
    try:
        yield
    finally:
        confined.O_PATH, confined.HAVE_PROC, confined.OPENAT2.usable = saved


# -- the race, locally ------------------------------------------------------------------------------


@pytest.mark.parametrize("walk", [False, True], ids=["openat2", "walk"])
async def test_a_racing_swap_never_leads_a_local_call_outside_root(
    tmp_path: Path, settings: Settings, walk: bool
):
    make_layout(tmp_path)
    root, outside = tmp_path / "root", tmp_path / "outside"
    before = snapshot(outside)
    stop = tmp_path / "stop"
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(root / "a"), str(root / "b"), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    server = Server(name="here", protocol="local", root=str(root))
    try:
        with walk_only(walk):
            assert confined.OPENAT2.usable in (None, True) or walk
            async with Gateway(make_inventory(server), settings) as gw:
                tally = await hammer(gw.executor("here"), str(root), ATTEMPTS, gw)
    finally:
        stop.touch()
        swaps = int(swapper.communicate(timeout=30)[0])
    how = "walk" if walk else "openat2"
    print(f"local ({how}): {swaps} swaps; ok {dict(tally.ok)}; refused {dict(tally.refused)}")
    assert swaps > 1000
    check(tally, before, outside, ATTEMPTS)


# -- the path corpus, locally (openat2, the walk, and the walk without O_PATH and /proc) ---------


@pytest.fixture(params=["openat2", "walk", "portable"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "openat2":
        with walk_only(False):
            yield request.param
    elif request.param == "walk":
        with walk_only(True):
            yield request.param
    else:
        with portable():
            yield request.param


async def test_links_loops_dotdot_and_names(tmp_path: Path, mode: str):
    root = tmp_path / "root"
    (root / "deep" / "a" / "b").mkdir(parents=True)
    (tmp_path / "secret").write_text("s")
    ex = local(root)
    # Loops, and links out: refused as such, nothing outside looked at or made.
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    (root / "self").symlink_to("self/x")
    for path in ("loop1", "self"):
        with pytest.raises(InvalidRequestError, match="too many levels of symbolic links"):
            await ex.read_file(path)
    (root / "out").symlink_to(tmp_path)
    (root / "abs-out").symlink_to(tmp_path / "secret")
    (root / "dangling-out").symlink_to(tmp_path / "no-such-dir" / "planted")
    for path in (
        "out/secret",
        "abs-out",
        "../secret",
        "deep/../../secret",
        str(tmp_path / "secret"),
        "/etc/passwd",
    ):
        with pytest.raises(PathNotAllowedError, match="outside its root"):
            await ex.read_file(path)
    for mode_ in ("append", "overwrite", "create"):
        with pytest.raises(PathNotAllowedError):
            await ex.write_file("dangling-out", "x", mode=mode_)
    assert not (tmp_path / "no-such-dir").exists()
    # `..` after a link is the kernel's: s/.. is deep/a, not root; a link to an absolute path
    # below root is followed (below root).
    (root / "s").symlink_to(root / "deep" / "a" / "b")
    (root / "tricky").symlink_to("s/../made.txt")
    st = await ex.write_file("tricky", "here", mode="append")
    assert st.path == str(root / "deep" / "a" / "made.txt") and not (root / "made.txt").exists()
    assert await ex.read_file("s/../made.txt") == b"here"
    # A dangling link inside root: writing through it makes its target, inside.
    (root / "later").symlink_to("deep/later.txt")
    assert (await ex.write_file("later", "made")).path == str(root / "deep" / "later.txt")
    # Relative and absolute spellings of the same file; `.` and `//`.
    assert await ex.read_file(str(root / "deep" / "later.txt")) == b"made"
    assert await ex.read_file(f"{root}//deep/./later.txt") == b"made"
    assert await ex.confine("./deep//later.txt") == str(root / "deep" / "later.txt")
    assert await ex.confine("deep/new.txt", must_exist=False) == str(root / "deep" / "new.txt")
    with pytest.raises(FileMissingError, match="No such file"):
        await ex.read_file("deep/none.txt")
    with pytest.raises(FileMissingError):
        await ex.write_file("no-dir/x.txt", "x")
    with pytest.raises(InvalidRequestError, match="is a directory"):
        await ex.write_file("deep/", "x")
    with pytest.raises(InvalidRequestError, match="is a directory"):
        await ex.read_file("deep")
    # Unicode names, listed and read back.
    name = "données-日本語 ☃.txt"
    await ex.write_file(f"deep/{name}", "ünïcödé")
    assert name in [e.name for e in await ex.list_dir("deep")]
    assert (await ex.read_file(f"deep/{name}")).decode() == "ünïcödé"
    listing = {e.name: e.type for e in await ex.list_dir(".")}
    assert listing["loop1"] == "symlink" and listing["deep"] == "dir" and "secret" not in listing


async def test_pipes_devices_and_sockets_are_refused_without_waiting(tmp_path: Path, mode: str):
    os.mkfifo(tmp_path / "fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        (tmp_path / "zero").symlink_to("/dev/zero")
        ex = local(tmp_path)
        calls = [ex.read_file(n) for n in ("fifo", "sock")]
        calls += [ex.write_file(n, "x", mode="append") for n in ("fifo", "sock")]
        calls += [local(None).read_file("/dev/zero"), local(None).write_file("/dev/null", "x", mode="append")]
        for call in calls:
            with pytest.raises(InvalidRequestError, match="is not a regular file"):
                await asyncio.wait_for(call, 5)
        with pytest.raises(PathNotAllowedError):
            await ex.read_file("zero")  # a link to a device outside root
    # overwrite replaces the name, never opening what was there
    await ex.write_file("fifo", "now a file")
    assert (tmp_path / "fifo").read_text() == "now a file"


async def test_a_root_that_is_itself_a_link(tmp_path: Path, mode: str):
    (tmp_path / "releases" / "2").mkdir(parents=True)
    (tmp_path / "current").symlink_to("releases/2")
    real = str(tmp_path / "releases" / "2")
    ex = local(tmp_path / "current")
    st = await ex.write_file("app.conf", "x=1\n")
    assert st.path == f"{real}/app.conf"
    # the root as written, and as resolved, both name it; a link naming root either way is inside
    assert await ex.read_file(str(tmp_path / "current" / "app.conf")) == b"x=1\n"
    assert await ex.read_file(f"{real}/app.conf") == b"x=1\n"
    (tmp_path / "releases" / "2" / "via").symlink_to(tmp_path / "current" / "app.conf")
    assert (await ex.read_file_stat("via"))[0].path == f"{real}/app.conf"
    with pytest.raises(PathNotAllowedError):
        await ex.read_file(str(tmp_path / "releases" / "1" / "app.conf"))
    with pytest.raises(FileMissingError, match=r"its root .* cannot be opened"):
        await local(tmp_path / "nowhere").read_file("x")


def test_a_folder_moved_out_of_root_while_held_is_refused(tmp_path: Path):
    """A process that can write inside root and outside moves a folder we already hold out of
    root: what was opened through it is no longer below root, and is refused."""
    (tmp_path / "root" / "a").mkdir(parents=True)
    (tmp_path / "root" / "a" / "f").write_text("f")
    with confined.Tree(str(tmp_path / "root")) as tree:
        for node in (tree.node("a/f"), tree.slot("a/new")):
            os.rename(tmp_path / "root" / "a", tmp_path / "moved")
            with pytest.raises(confined.FsError, match="moved outside its root"):
                tree.where(node, "a/f")
            node.close()
            os.rename(tmp_path / "moved", tmp_path / "root" / "a")


async def test_without_a_root_one_resolution_and_its_real_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """No confinement, but the file used is the one resolved, and its real path comes back."""
    (tmp_path / "target.txt").write_text("t")
    (tmp_path / "link").symlink_to("target.txt")
    ex = local(None)
    st, data = await ex.read_file_stat(str(tmp_path / "link"))
    assert (st.path, data) == (str(tmp_path / "target.txt"), b"t")
    assert await ex.confine(str(tmp_path / "link")) == str(tmp_path / "target.txt")
    monkeypatch.chdir(tmp_path)  # relative: the process's directory, or the server's cwd
    assert await ex.read_file("link") == b"t"
    assert await local(None, cwd=str(tmp_path)).read_file("target.txt") == b"t"
    assert await local(None).read_file(f"{tmp_path}/../{tmp_path.name}/link") == b"t"


async def test_expect_refuses_what_no_longer_resolves_to_the_path_judged(tmp_path: Path, mode: str):
    (tmp_path / "one.txt").write_text("1")
    (tmp_path / "two.txt").write_text("2")
    (tmp_path / "cur").symlink_to("one.txt")
    ex = local(tmp_path)
    judged = await ex.confine("cur")
    assert judged == str(tmp_path / "one.txt")
    (tmp_path / "cur").unlink()
    (tmp_path / "cur").symlink_to("two.txt")  # swapped after the judgement
    for call in (
        ex.read_file("cur", expect=judged),
        ex.write_file("cur", "x", expect=judged),
        ex.write_file("cur", "x", mode="append", expect=judged),
        ex.stat("cur", expect=judged),
    ):
        with pytest.raises(PathChangedError, match=f"now resolves to {tmp_path}/two.txt"):
            await call
    assert (tmp_path / "two.txt").read_text() == "2"
    assert await ex.read_file("cur", expect=str(tmp_path / "two.txt")) == b"2"
    with pytest.raises(PathChangedError):
        await ex.list_dir(".", expect=str(tmp_path / "elsewhere"))


async def test_a_conditional_write_refuses_a_file_changed_since_it_was_read(tmp_path: Path, mode: str):
    ex = local(tmp_path)
    await ex.write_file("conf", "a\n")
    stat, _ = await ex.read_file_stat("conf")
    assert stat.version and "version" not in stat.model_dump()  # not in the API's answers
    (tmp_path / "conf").write_text("changed by someone else\n")
    with pytest.raises(FileChangedError, match="changed since it was read"):
        await ex.write_file("conf", "b\n", if_version=stat.version)
    assert (tmp_path / "conf").read_text() == "changed by someone else\n"
    stat, _ = await ex.read_file_stat("conf")
    assert (await ex.write_file("conf", "b\n", if_version=stat.version)).size == 2
    with pytest.raises(FileChangedError):  # the name was replaced: another inode
        await ex.write_file("conf", "c\n", if_version=stat.version)


async def test_big_files_move_in_bounded_pieces(tmp_path: Path):
    ex = local(tmp_path)
    blob = os.urandom(confined.CHUNK * 5 + 123)
    assert (await ex.write_file("big.bin", blob)).size == len(blob)
    assert await ex.read_file("big.bin") == blob
    assert (
        await ex.read_file("big.bin", offset=confined.CHUNK * 3 + 7, limit=100)
        == blob[confined.CHUNK * 3 + 7 : confined.CHUNK * 3 + 107]
    )
    with open(tmp_path / "huge.bin", "wb") as f:
        f.truncate(confined.READ_MAX + 1)  # sparse
    with pytest.raises(PayloadTooLargeError, match="more than one read returns"):
        await ex.read_file("huge.bin")
    assert len(await ex.read_file("huge.bin", offset=confined.READ_MAX - 10, limit=100)) == 11
    with pytest.raises(InvalidRequestError, match="limit 0-"):
        await ex.read_file("huge.bin", limit=confined.READ_MAX + 1)


async def test_listing_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for i in range(30):
        (tmp_path / f"f{i:02}").write_text("")
    ex = local(tmp_path)
    assert len(await ex.list_dir(".", limit=10)) == 10
    assert len(await ex.list_dir(".")) == 30
    monkeypatch.setattr(confined, "LIST_MAX", 20)
    with pytest.raises(PayloadTooLargeError, match="holds more than 20 entries"):
        await ex.list_dir(".")


@pytest.mark.parametrize("version", ["3.6", "3.7", "current"])
def test_the_helper_runs_on_the_pythons_hosts_have(tmp_path: Path, version: str):
    """The helper as a host runs it (isolated, from its source on stdin), down to Python 3.6."""
    if version == "current":
        python = sys.executable
    else:
        found = sorted(Path("/root/.pyenv/versions").glob(f"{version}.*/bin/python"))
        if not found:  # the machine kind ships them (pyenv): their absence is a failure, not a skip
            pytest.fail(f"no Python {version} under /root/.pyenv/versions: the helper's oldest targets")
        python = str(found[0])
    (tmp_path / "root" / "d").mkdir(parents=True)
    (tmp_path / "root" / "esc").symlink_to(tmp_path)
    proc = subprocess.Popen(
        [python, "-I", "-S", "-X", "utf8", "-c", BOOTSTRAP], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write(b"%d\n" % len(SOURCE) + SOURCE)
    proc.stdin.flush()

    def ask(request: dict, payload: bytes | None = None) -> tuple[dict, bytes]:
        assert proc.stdin and proc.stdout
        confined.write_json(proc.stdin, {"root": str(tmp_path / "root"), **request})
        if payload is not None:
            for i in range(0, len(payload), confined.CHUNK):
                confined.write_frame(proc.stdin, payload[i : i + confined.CHUNK])
            confined.write_frame(proc.stdin, b"")
        proc.stdin.flush()
        reply = json.loads(confined.read_frame(proc.stdout, 1 << 20) or b"")
        data = b""
        if reply.get("data"):
            while chunk := confined.read_frame(proc.stdout, confined.CHUNK):
                data += chunk
            trailer = json.loads(confined.read_frame(proc.stdout, 1 << 20) or b"")
            assert trailer == {}
        return reply, data

    assert proc.stdout.read(len(confined.MAGIC)) == confined.MAGIC
    hello = json.loads(confined.read_frame(proc.stdout, 1 << 20) or b"")
    assert hello["ready"] == confined.PROTOCOL and hello["python"][:2] >= [3, 6]
    name = "d/naïve ☃.txt"
    reply, _ = ask({"op": "write", "path": name, "mode": "create", "payload": True}, b"x" * 3_000_000)
    assert reply["stat"]["size"] == 3_000_000
    reply, data = ask({"op": "read", "path": name, "offset": 1, "limit": 2_500_000})
    assert len(data) == 2_500_000 and reply["stat"]["path"] == str(tmp_path / "root" / name)
    assert ask({"op": "read", "path": "esc/x"})[0]["error"] == "outside"
    reply, _ = ask({"op": "write", "path": "esc/x", "payload": True}, b"drained")  # refused, payload read
    assert reply["error"] == "outside"
    assert [e[0] for e in ask({"op": "list", "path": "d"})[0]["entries"]] == ["naïve ☃.txt"]
    proc.stdin.close()
    assert proc.wait(10) == 0


# -- over SSH: the helper on a bed host ---------------------------------------------------------


def _chown_tree(path: Path, user: str) -> None:
    ids = pwd.getpwnam(user)
    for p in [path, *path.rglob("*")]:
        os.lchown(p, ids.pw_uid, ids.pw_gid)


@pytest.fixture
def bed_layout(bed: Bed) -> Iterator[tuple[Path, str]]:
    """The race's folders in db's home: (their path on the gateway's disk, the same on db)."""
    name = f"conf-{os.getpid()}-{time.monotonic_ns()}"
    local_base = bed.hosts["db"].home / name
    make_layout(local_base)
    _chown_tree(local_base, bed.user)
    yield local_base, f"/home/{bed.user}/{name}"
    shutil.rmtree(local_base, ignore_errors=True)


@pytest.mark.bed
async def test_a_racing_swap_on_the_host_never_leads_a_helper_call_outside_root(
    bed: Bed, settings: Settings, bed_layout: tuple[Path, str]
):
    local_base, host_base = bed_layout
    before = snapshot(local_base / "outside")
    server = bed.server("db", root=f"{host_base}/root")
    attacker = bed.server("db")
    async with (
        Gateway(make_inventory(server), settings) as gw,
        Gateway(
            make_inventory(attacker), replace(settings, state_dir=settings.state_dir / "attacker")
        ) as bad,
    ):
        argv = " ".join(
            shlex.quote(a) for a in (f"{host_base}/root/a", f"{host_base}/root/b", f"{host_base}/stop")
        )
        swapping = asyncio.ensure_future(
            bad.executor("db").run(f"python3 -c {shlex.quote(SWAPPER)} {argv}", timeout=300)
        )
        try:
            await asyncio.sleep(0.3)
            ex = gw.executor("db")
            tally = await hammer(ex, f"{host_base}/root", ATTEMPTS, gw)
        finally:
            (local_base / "stop").touch()
            result = await swapping
    assert result.exit_code == 0, result.stderr
    swaps = int(result.stdout)
    print(f"ssh helper: {swaps} swaps; ok {dict(tally.ok)}; refused {dict(tally.refused)}")
    assert swaps > 1000
    check(tally, before, local_base / "outside", ATTEMPTS)


@pytest.mark.bed
async def test_a_racing_swap_never_leads_an_http_call_outside_root(
    bed: Bed, settings: Settings, bed_layout: tuple[Path, str], tmp_path: Path
):
    """The whole way: HTTP, the gateway's policy and plan, the executor, for an ssh and a local server."""
    local_base, host_base = bed_layout
    make_layout(tmp_path / "here")
    servers = [
        bed.server("db", root=f"{host_base}/root"),
        Server(name="here", protocol="local", root=str(tmp_path / "here" / "root")),
    ]
    outsides = {"db": local_base / "outside", "here": tmp_path / "here" / "outside"}
    before = {name: snapshot(folder) for name, folder in outsides.items()}
    token = "race-token"
    api = Api(
        Gateway(make_inventory(*servers), replace(settings, rate=100000, burst=100000)),
        Authenticator([Token("racer", digest(token))]),
    )
    http = TestServer(create_app(api), host="127.0.0.1")
    await http.start_server()
    swappers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                SWAPPER,
                str(base / "root" / "a"),
                str(base / "root" / "b"),
                str(base / "stop"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for base in (local_base, tmp_path / "here")
    ]
    escapes: list[str] = []
    outcomes: Counter[str] = Counter()
    roots = {"db": f"{host_base}/root", "here": str(tmp_path / "here" / "root")}
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:

            async def post(route: str, body: dict) -> tuple[int, dict]:
                async with session.post(str(http.make_url(route)), json=body) as r:
                    return r.status, await r.json()

            for i in range(ATTEMPTS):
                for server in ("db", "here"):
                    calls = [
                        ("read", "/file/read", {"path": "a/secret.txt"}),
                        ("list", "/file/list", {"path": "a"}),
                        ("write", "/file/write", {"path": f"a/h-{i}.txt", "content": "h"}),
                        ("append", "/file/write", {"path": "a/log.txt", "content": "h\n", "mode": "append"}),
                        ("patch", "/file/patch", {"path": "a/p", "diff": PATCH}),
                    ]
                    for kind, route, body in calls:
                        status, data = await post(route, {**body, "server": server})
                        outcomes[f"{server} {kind} {status}"] += 1
                        assert status < 500, data
                        if status != 200:
                            continue
                        if kind == "read" and data["content"] != "inside\n":
                            escapes.append(f"{server} read {data['content']!r}")
                        if kind == "list" and "OUTSIDE-MARKER" in [e["name"] for e in data["entries"]]:
                            escapes.append(f"{server} listed outside")
                        real = (data.get("stat") or data).get("path", "")
                        if kind in ("write", "append", "patch") and not real.startswith(roots[server] + "/"):
                            escapes.append(f"{server} {kind} at {real}")
    finally:
        for base in (local_base, tmp_path / "here"):
            (base / "stop").touch()
        swaps = [int(p.communicate(timeout=30)[0]) for p in swappers]
        await http.close()
        await api.gateway.close()
    print(f"http: {swaps} swaps; {dict(sorted(outcomes.items()))}")
    assert escapes == []
    for name, folder in outsides.items():
        assert snapshot(folder) == before[name], f"{name}: something was written outside root"
    for server in ("db", "here"):
        for kind in ("read", "list", "write", "append", "patch"):
            assert outcomes[f"{server} {kind} 200"] > 0, (server, kind, outcomes)


@pytest.mark.bed
async def test_the_path_corpus_over_ssh(bed: Bed, settings: Settings, bed_layout: tuple[Path, str]):
    local_base, host_base = bed_layout
    root = local_base / "root"
    (root / "deep" / "a" / "b").mkdir(parents=True)
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    (root / "dangling-out").symlink_to("../../planted")
    (root / "s").symlink_to(f"{host_base}/root/deep/a/b")
    (root / "tricky").symlink_to("s/../made.txt")
    os.mkfifo(root / "fifo")
    (local_base / "current").symlink_to("root")
    _chown_tree(local_base, bed.user)
    async with Gateway(make_inventory(bed.server("db", root=f"{host_base}/current")), settings) as gw:
        ex = gw.executor("db")
        real = f"{host_base}/root"
        with pytest.raises(InvalidRequestError, match="too many levels of symbolic links"):
            await ex.read_file("loop1")
        for path in ("../outside/secret.txt", "b/secret.txt", "/etc/passwd", "a/../../outside/f"):
            with pytest.raises(PathNotAllowedError, match=f"leads outside its root '{host_base}/current'"):
                await ex.read_file(path)
        for mode_ in ("append", "overwrite", "create"):
            with pytest.raises(PathNotAllowedError):
                await ex.write_file("dangling-out", "x", mode=mode_)
        assert not (bed.hosts["db"].home / "planted").exists()
        assert (await ex.write_file("tricky", "here", mode="append")).path == f"{real}/deep/a/made.txt"
        for call in (ex.read_file("fifo"), ex.write_file("fifo", "x", mode="append")):
            with pytest.raises(InvalidRequestError, match="fifo on db is not a regular file"):
                await asyncio.wait_for(call, 5)
        name = "données-日本語 ☃.txt"
        assert (await ex.write_file(f"deep/{name}", "ünï")).path == f"{real}/deep/{name}"
        assert name in [e.name for e in await ex.list_dir("deep")]
        assert await ex.read_file(f"{host_base}/current/deep/{name}") == "ünï".encode()
        blob = os.urandom(confined.CHUNK * 12 + 5)  # 12 MiB, in 1 MiB frames both ways
        assert (await ex.write_file("big.bin", blob)).size == len(blob)
        assert (root / "big.bin").read_bytes() == blob
        assert await ex.read_file("big.bin") == blob
        assert (
            await ex.read_file("big.bin", offset=confined.CHUNK * 7, limit=10)
            == blob[confined.CHUNK * 7 : confined.CHUNK * 7 + 10]
        )
        with open(root / "huge.bin", "wb") as f:
            f.truncate(confined.READ_MAX + 1)
        with pytest.raises(PayloadTooLargeError):
            await ex.read_file("huge.bin")
        stat, _ = await ex.read_file_stat("a/f")
        (root / "a" / "f").write_text("changed\n")
        with pytest.raises(FileChangedError):
            await ex.write_file("a/f", "mine\n", if_version=stat.version)
        with pytest.raises(PathChangedError):
            await ex.read_file("a/f", expect=f"{real}/b/f")
    async with Gateway(make_inventory(bed.server("db")), settings) as gw:  # no root: home-relative
        ex = gw.executor("db")
        st, data = await ex.read_file_stat(f"{local_base.name}/current/keep.txt")
        assert (st.path, data) == (f"{real}/keep.txt", b"kept\n")
        assert await ex.read_file(f"~/{local_base.name}/root/keep.txt") == b"kept\n"


@pytest.mark.bed
async def test_one_helper_per_connection_restarted_when_it_dies(bed: Bed, settings: Settings):
    async with Gateway(make_inventory(bed.server("db")), settings) as gw:
        ex = gw.executor("db")
        await ex.read_file("/etc/hostname")
        link = ex._link  # type: ignore[attr-defined]
        pid = link.helper.info["pid"]
        for _ in range(5):
            await ex.stat("/etc/hostname")
        assert link.helper.info["pid"] == pid  # the same process served them all
        assert (await ex.run(f"kill -9 {pid}")).exit_code == 0  # killed while idle, on the host
        await asyncio.sleep(0.2)
        assert await ex.read_file("/etc/hostname") == HOSTNAME
        assert link.helper.info["pid"] != pid
        used = link.sessions.used
        await ex.read_file("/etc/hostname")
        assert link.sessions.used == used  # the dead one's slot came back, the new one holds one


@pytest.mark.bed
async def test_a_call_cancelled_midway_gives_the_only_channel_back(bed: Bed, settings: Settings):
    """max_sessions 1: the helper is started per call and must never keep the only channel."""
    async with Gateway(make_inventory(bed.server("db", max_sessions=1)), settings) as gw:
        ex = gw.executor("db")
        for delay in (0.0, 0.01, 0.03, 0.06):
            task = asyncio.ensure_future(ex.read_file("/etc/hostname"))
            await asyncio.sleep(delay)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert (await asyncio.wait_for(ex.run("echo free"), 10)).stdout == "free\n"
            assert await asyncio.wait_for(ex.read_file("/etc/hostname"), 10) == HOSTNAME


@contextlib.contextmanager
def private_sshd(bed: Bed, tmp_path: Path, port: int, extra: str) -> Iterator[int]:
    """A second sshd on db with ``extra`` in its config; it runs in the gateway's mount namespace
    (the real /home, not db's), so its files are the machine's own."""
    host = bed.hosts["db"]
    config = (host.dir / "sshd_config").read_text()
    config = config.replace(f"ListenAddress {host.ip}:22", f"ListenAddress {host.ip}:{port}")
    config = config.replace("ListenAddress 127.0.0.1:22\n", "")
    config = config.replace(f"PidFile {host.dir}/sshd.pid", f"PidFile {tmp_path}/sshd.pid")
    (tmp_path / "sshd_config").write_text(config + extra)
    proc = subprocess.Popen(
        ["ip", "netns", "exec", host.netns, "/usr/sbin/sshd", "-D", "-f", str(tmp_path / "sshd_config")]
    )
    (tmp_path / "known_hosts").write_text(f"[{host.ip}]:{port} {host.public_key}\n")
    for _ in range(100):
        if (tmp_path / "sshd.pid").exists():
            break
        time.sleep(0.05)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait()


@pytest.fixture
def no_python_sshd(bed: Bed, tmp_path: Path) -> Iterator[int]:
    """Sessions that find no python3: PATH names nothing (bash is not found either)."""
    with private_sshd(bed, tmp_path, 2223, "SetEnv PATH=/nonexistent\n") as port:
        yield port


@pytest.mark.bed
async def test_a_login_that_prints_before_the_helper_starts(bed: Bed, settings: Settings, tmp_path: Path):
    """A profile or banner that writes on stdout before every command: skipped, not misread."""
    junk = "printf '\\000\\000\\000\\011junk'"  # looks like the start of a frame
    chatty = f'ForceCommand echo "Welcome to db"; {junk}; eval "$SSH_ORIGINAL_COMMAND"\n'
    with private_sshd(bed, tmp_path, 2224, chatty) as port:
        known = str(tmp_path / "known_hosts")
        server = bed.server("db", port=port, known_hosts=known, root="/etc", persistent_shell=False)
        async with Gateway(make_inventory(server), settings) as gw:
            assert (await gw.executor("db").run("true")).stdout == "Welcome to db\n\0\0\0\tjunk"
            assert await gw.executor("db").read_file("hostname") == HOSTNAME
            assert (await gw.executor("db").stat("/etc/hostname")).path == "/etc/hostname"


@pytest.mark.bed
async def test_a_host_without_python3(bed: Bed, settings: Settings, tmp_path: Path, no_python_sshd: int):
    known = str(tmp_path / "known_hosts")
    home = Path(f"/home/{bed.user}")  # this sshd runs in the gateway's mount namespace
    name = f"nopy-{os.getpid()}.txt"

    def server(**changes: object) -> Server:
        return bed.server("db", port=no_python_sshd, known_hosts=known, **changes)

    try:
        # Under a root: refused, naming the server and what to do, for reads too.
        async with Gateway(make_inventory(server(root=str(home))), settings) as gw:
            for call in (gw.executor("db").read_file(name), gw.executor("db").write_file(name, "x")):
                with pytest.raises(ConfinementUnavailableError) as caught:
                    await call
            error = caught.value
            assert "db (10.203.0.11:2223): file operations below its root" in error.message
            assert "python3 did not start there (python3: not found)" in error.message
            assert error.hint and "install python3" in error.hint and "`files: sftp`" in error.hint
        # Without a root, auto goes by name over SFTP; `confined` refuses; `sftp` under a root works.
        async with Gateway(make_inventory(server()), settings) as gw:
            assert (await gw.executor("db").write_file(name, "by name")).path == str(home / name)
        async with Gateway(make_inventory(server(files="confined")), settings) as gw:
            with pytest.raises(ConfinementUnavailableError, match="files: confined"):
                await gw.executor("db").read_file(name)
        async with Gateway(make_inventory(server(root=str(home), files="sftp")), settings) as gw:
            assert await gw.executor("db").read_file(name) == b"by name"
            with pytest.raises(PathNotAllowedError):
                await gw.executor("db").read_file("/etc/hostname")
    finally:
        (home / name).unlink(missing_ok=True)


@pytest.mark.bed
async def test_files_by_name_over_sftp_still_work(bed: Bed, settings: Settings, bed_layout: tuple[Path, str]):
    """The fallback (`files: sftp`) answers as the helper does, outside the race."""
    local_base, host_base = bed_layout
    root = local_base / "root"
    os.mkfifo(root / "fifo")
    _chown_tree(local_base, bed.user)
    server = bed.server("db", root=f"{host_base}/root", files="sftp")
    async with Gateway(make_inventory(server), settings) as gw:
        ex = gw.executor("db")
        real = f"{host_base}/root"
        assert (await ex.write_file("a/new.txt", "one\ntwo\n")).path == f"{real}/a/new.txt"
        assert await ex.read_file("a/new.txt", offset=4, limit=3) == b"two"
        assert (await ex.write_file("a/new.txt", "three\n", mode="append")).size == 14
        os.chmod(root / "a" / "new.txt", 0o640)
        assert (await ex.write_file("a/new.txt", "x")).mode == "0o640"
        with pytest.raises(GtpError, match="file exists"):
            await ex.write_file("a/new.txt", "x", mode="create")
        assert [e.name for e in await ex.list_dir("a")][:2] == ["INSIDE-MARKER", "f"]
        with pytest.raises(InvalidRequestError, match="fifo on db is not a regular file"):
            await asyncio.wait_for(ex.read_file("fifo"), 5)
        for path in ("b/secret.txt", "../outside/f", "/etc/passwd"):
            with pytest.raises(PathNotAllowedError, match="leads outside its root"):
                await ex.read_file(path)
        stat, _ = await ex.read_file_stat("a/f")
        assert (await ex.write_file("a/f", "line\nmore\n", if_version=stat.version)).size == 10
        with pytest.raises(FileChangedError):
            await ex.write_file("a/f", "stale\n", if_version=stat.version)
        with pytest.raises(PathChangedError):
            await ex.read_file("a/f", expect=f"{real}/b/f")
        assert not [p for p in (root / "a").iterdir() if "gtp-tmp" in p.name]
