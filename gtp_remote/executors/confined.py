"""Files opened below a root by descriptor: the object checked is the object used.

Why: checking a path and then opening it again by name lets a process on the host swap a folder
for a symlink in between (renameat2 ``RENAME_EXCHANGE``), and the second lookup follows it out
of ``root``. Here a path is resolved once, every step relative to a directory descriptor already
known to be below root, and what is read, written, listed or stat'ed is the very object that
resolution reached. Its real path (where the opened descriptor is, from ``/proc/self/fd``) comes
back with the result, so the gateway can refuse when it is not the path its policy judged.

This one source runs in two places: in the gateway's worker threads for ``local`` servers, and
on SSH hosts as a helper the ssh executor starts with the host's own python3 (the source is sent
down the channel and run there; nothing is installed, as Ansible does). So it imports the
standard library only, runs on Python 3.6 and later, and its annotations are strings.

How a path is resolved (``Tree``):

* **openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)** where the kernel has it (Linux 5.6+): the
  kernel walks the path and fails with EXDEV on anything that would leave the root descriptor,
  ``..`` raced by a rename included, and with ELOOP on ``/proc`` magic links. It also refuses
  absolute symlinks, even those pointing inside root (a ``current`` release link), and any
  error at all sends the path to the walk below, which gives the precise answer.
* **A walk by hand** otherwise (older kernels, seccomp filters answering ENOSYS or EPERM, other
  systems): one component at a time, each opened ``O_PATH | O_NOFOLLOW`` relative to the
  descriptor of the directory before it. A symlink is read from its own descriptor and its
  target walked in turn: a relative target from the link's directory, an absolute one only if it
  names root (as written in the inventory, or resolved) and then from the root descriptor. ``..``
  goes back to the descriptor we came from, never above root; at most 40 links. Every target is
  judged by its text before anything there is looked up, so a link pointing outside is refused
  as such (403), never answered with what exists outside (no oracle).
* **Without a root** the same code runs from ``/`` (``..`` stops there, absolute links restart
  there): a read or write is still one resolution whose object is then used and reported.

What is opened: the last component as ``O_PATH`` first and fstat'ed, so a FIFO (an open that
blocks) or a device (an open that acts) is refused before it is ever opened; a regular file is
then re-opened through ``/proc/self/fd/N``, which is that inode again with no lookup by name.
Writes go to a temp file created in the confined directory descriptor and renamed there; an
append opens the name in that descriptor with ``O_NOFOLLOW | O_NONBLOCK`` and checks with fstat.

A hard link inside root to a file outside it is not an escape this guards against: making one
needs write access to that file already (``fs.protected_hardlinks``), and the link is a name
inside root for that one file, which a caller may then read or write like any other file there.
"""

import contextlib
import errno
import hashlib
import json
import os
import platform
import stat
import struct
import sys
from collections.abc import Iterable, Iterator
from typing import BinaryIO

PROTOCOL = 1
# Written before the first frame: the gateway skips anything a login shell printed before it.
MAGIC = b"\x1egtp-remote-files\n"
MAX_HOPS = 40  # what Linux allows before ELOOP
CHUNK = 1 << 20  # data moves in pieces of at most this, on the host and on the wire
READ_MAX = 64 << 20  # one read returns at most this
LIST_MAX = 100000  # a listing without a limit refuses a directory holding more entries
#: Permission bits a write may set (``file_mode``): no setuid, setgid or sticky bit, since a
#: file an agent wrote must never become a privilege; a file rewritten loses them too, as a
#: write by anyone but root makes the kernel drop them.
MODE_MAX = 0o777
REQUEST_MAX = 1 << 20  # a request header (JSON) from the gateway
O_PATH = getattr(os, "O_PATH", 0)  # Linux; elsewhere directories are opened for reading
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_NOCTTY = getattr(os, "O_NOCTTY", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_BENEATH = 0x08
# openat2 is 437 in the generic syscall table; the few architectures numbering it otherwise use the walk.
OPENAT2_SYSCALL = {
    "x86_64": 437,
    "amd64": 437,
    "aarch64": 437,
    "arm64": 437,
    "i386": 437,
    "i686": 437,
    "armv7l": 437,
    "armv6l": 437,
    "riscv64": 437,
    "ppc64le": 437,
    "ppc64": 437,
    "s390x": 437,
    "loongarch64": 437,
}


class FsError(Exception):
    """An expected failure, by kind: the gateway maps each kind to one typed error."""

    def __init__(self, kind: "str", message: "str", path: "str" = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.path = path

    def reply(self) -> "dict":
        return {"error": self.kind, "message": self.message, "path": self.path}


class OffsetError(FsError):
    """A chunk sent at another offset than the size staged; ``expected`` is where to resume."""

    def __init__(self, expected: "int", path: "str") -> None:
        super().__init__("offset", f"{expected} bytes are staged: send the chunk at offset {expected}", path)
        self.expected = expected

    def reply(self) -> "dict":
        return {**super().reply(), "expected": self.expected}


OS_KINDS = {
    errno.ENOENT: "missing",
    errno.EEXIST: "exists",
    errno.EACCES: "permission",
    errno.EPERM: "permission",
    errno.ELOOP: "loop",
    errno.ENOTDIR: "not_dir",
    errno.EISDIR: "is_dir",
    errno.ENXIO: "not_regular",
    errno.ENAMETOOLONG: "invalid",
}


def os_error(exc: "OSError", path: "str") -> "FsError":
    return FsError(OS_KINDS.get(exc.errno or 0, "io"), exc.strerror or str(exc), path)


# -- openat2, where the kernel has it ------------------------------------------------------------


class _Openat2:
    """openat2(2) through ctypes (Python has no binding); ``usable`` is settled on first use."""

    def __init__(self) -> None:
        self.usable = None  # type: bool | None
        self._call = None

    def load(self) -> "bool":
        number = OPENAT2_SYSCALL.get(platform.machine().lower())
        if number is None or not sys.platform.startswith("linux") or not os.path.isdir("/proc/self/fd"):
            return False
        try:
            import ctypes

            class OpenHow(ctypes.Structure):
                _fields_ = [
                    ("flags", ctypes.c_uint64),
                    ("mode", ctypes.c_uint64),
                    ("resolve", ctypes.c_uint64),
                ]

            libc = ctypes.CDLL(None, use_errno=True)
            syscall = libc.syscall
            syscall.restype = ctypes.c_long
        except Exception:  # no ctypes, no libc symbol: the walk does the same job
            return False

        def call(dirfd: "int", path: "str", flags: "int", resolve: "int") -> "int":
            how = OpenHow(flags, 0, resolve)
            fd = syscall(
                ctypes.c_long(number),
                ctypes.c_int(dirfd),
                ctypes.c_char_p(os.fsencode(path)),
                ctypes.byref(how),
                ctypes.c_size_t(ctypes.sizeof(how)),
            )
            if fd < 0:
                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code), path)
            return fd

        self._call = call
        return True

    def open(self, dirfd: "int", path: "str", flags: "int") -> "int | None":
        """A descriptor for ``path`` below ``dirfd``, or None for the walk to decide."""
        if self.usable is None:
            self.usable = self.load()
            if self.usable:  # a seccomp filter may answer ENOSYS or EPERM to an unknown syscall
                try:
                    os.close(self._call(dirfd, ".", O_PATH | O_CLOEXEC, RESOLVE_BENEATH))
                except OSError:
                    self.usable = False
        if not self.usable:
            return None
        try:
            return self._call(dirfd, path, flags | O_CLOEXEC, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
        except OSError:  # EXDEV, ELOOP, ENOENT, EAGAIN...: the walk gives the exact answer
            return None


OPENAT2 = _Openat2()
HAVE_PROC = os.path.isdir("/proc/self/fd")


def components(path: "str") -> "list":
    return [c for c in path.split("/") if c not in ("", ".")]


def fd_path(fd: "int") -> "str | None":
    """Where an open descriptor's object is now, as the kernel says."""
    if not HAVE_PROC:
        return None
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def join(directory: "str", name: "str") -> "str":
    return directory.rstrip("/") + "/" + name


def file_type(mode: "int") -> "str":
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "other"


def version(st: "os.stat_result") -> "str":
    """What a conditional write compares: the same inode, unchanged since it was read."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def stat_reply(real: "str", st: "os.stat_result") -> "dict":
    return {
        "path": real,
        "type": file_type(st.st_mode),
        "size": st.st_size,
        "mode": stat.S_IMODE(st.st_mode),
        "mtime": st.st_mtime,
        "version": version(st),
    }


def close_all(*fds: "int | None") -> None:
    for fd in fds:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


class Node:
    """An object resolved below root: a descriptor for it (``O_PATH``; None for a name that does
    not exist yet, or a non-directory where the system has no ``O_PATH``), its stat, and the
    directory holding it with its name there (None when the walk ended on a directory itself)."""

    __slots__ = ("fd", "name", "parent", "real", "st")

    def __init__(
        self,
        fd: "int | None",
        st: "os.stat_result | None",
        parent: "int | None",
        name: "str | None",
        real: "str | None",
    ) -> None:
        self.fd = fd
        self.st = st
        self.parent = parent
        self.name = name
        self.real = real  # the walk's own idea of the path, where /proc cannot say

    def close(self) -> None:
        close_all(self.fd, self.parent)
        self.fd = self.parent = None


class Tree:
    """The directory tree below one root, opened once per operation.

    ``root`` None means no confinement: the tree is ``/``, relative paths start at ``cwd`` (or
    the process's own directory: the login directory on an SSH host).
    """

    def __init__(self, root: "str | None", cwd: "str | None" = None) -> None:
        self.confined = root is not None
        self.cwd = cwd
        top = os.path.expanduser(root) if root is not None else "/"
        self.written = os.path.normpath(os.path.abspath(top))
        try:
            self.fd = os.open(top, (O_PATH or os.O_RDONLY) | O_DIRECTORY | O_CLOEXEC)
        except OSError as exc:
            raise FsError(
                "root", f"its root {top} cannot be opened: {exc.strerror or exc}", root or "/"
            ) from None
        self.real = fd_path(self.fd) or os.path.realpath(top)
        self.bases = [components(self.written), components(self.real)]

    def close(self) -> None:
        close_all(self.fd)

    def __enter__(self) -> "Tree":
        return self

    def __exit__(self, *exc: "object") -> None:
        self.close()

    # -- what a path means ----------------------------------------------------------------------

    def parts(self, path: "str") -> "list":
        """The components of ``path`` relative to the tree's top. Refused by the text alone,
        before any lookup, so that nothing about the world outside root is revealed: an absolute
        path that does not start with root, and ``..`` that climbs above it as written (stricter
        than the kernel when a link precedes it: ``link/../..`` is refused even where the link's
        parent is deep enough)."""
        if not path or "\x00" in path:
            raise FsError("invalid", "empty or contains a NUL byte", path)
        if path == "~" or path.startswith("~/"):
            path = os.path.expanduser(path)
        if not self.confined:
            start = os.getcwd() if not path.startswith("/") else "/"
            return components(os.path.join(start, os.path.expanduser(self.cwd or ""), path))
        rest = self.beneath(path) if path.startswith("/") else components(path)
        depth = 0
        for part in rest if rest is not None else [".."]:  # `..` as written must stay below root
            depth += -1 if part == ".." else 1
            if depth < 0:
                raise FsError("outside", "leads outside its root", path)
        return rest

    def beneath(self, absolute: "str") -> "list | None":
        """What follows root in an absolute path, or None when it does not start with root."""
        parts = components(absolute)
        for base in self.bases:
            if parts[: len(base)] == base:
                return parts[len(base) :]
        return None

    def inside(self, real: "str | None", path: "str") -> "str":
        """The real path of an opened object, refused when it is not below root: a folder on the
        way moved out of root (by a process that can write there) while we held it."""
        if real is None:
            raise FsError("io", "cannot tell where the opened file is (no /proc)", path)
        if self.confined:
            top = self.real.rstrip("/")
            if real != self.real and not real.startswith(top + "/"):
                raise FsError("outside", "moved outside its root while it was opened", path)
        return real

    # -- resolving ------------------------------------------------------------------------------

    def node(self, path: "str") -> "Node":
        """The object ``path`` names, symlinks followed (below root)."""
        parts = self.parts(path)
        fd = OPENAT2.open(self.fd, "/".join(parts) or ".", O_PATH) if O_PATH else None
        if fd is not None:
            return Node(fd, os.fstat(fd), None, None, None)
        return self.walk(parts, path, missing_ok=False)

    def slot(self, path: "str") -> "Node":
        """Where a file named ``path`` is or would be: its directory's descriptor and its name
        there, a last component that is a symlink followed by hand (writing through a link to
        nothing creates its target, which must be below root too). ``st`` is the existing
        object's lstat, None when there is none yet."""
        parts = self.parts(path)
        if not parts or path.rsplit("/", 1)[-1] in ("", "."):
            raise FsError("is_dir", "names a directory, not a file", path)
        leaf = parts[-1]
        if O_PATH and leaf != "..":
            parent = OPENAT2.open(self.fd, "/".join(parts[:-1]) or ".", O_PATH | O_DIRECTORY)
            if parent is not None:
                try:
                    st = os.stat(leaf, dir_fd=parent, follow_symlinks=False)
                except FileNotFoundError:
                    return Node(None, None, parent, leaf, None)
                except OSError:
                    st = None  # let the walk say what is wrong
                if st is not None and not stat.S_ISLNK(st.st_mode):
                    return Node(None, st, parent, leaf, None)
                close_all(parent)
        node = self.walk(parts, path, missing_ok=True)
        if node.name is None:
            node.close()
            raise FsError("is_dir", "is a directory", path)
        close_all(node.fd)
        node.fd = None
        return node

    def where(self, node: "Node", path: "str") -> "str":
        """The real path of what ``node`` holds, checked to be below root."""
        if node.fd is None and node.name is not None:  # a name in a directory
            directory = fd_path(node.parent) if node.parent is not None else None
            real = join(directory, node.name) if directory else node.real
        else:
            real = (fd_path(node.fd) if node.fd is not None else None) or node.real
        return self.inside(real, path)

    def walk(self, parts: "list", path: "str", missing_ok: "bool") -> "Node":
        """The resolution by hand (see the module's docstring for why and how)."""
        todo = list(reversed(parts))  # a stack: pop() is the next component
        dirs = [os.dup(self.fd)]
        names = [self.real]  # the walk's own record of where it is, for where /proc is missing
        hops = 0
        try:
            while todo:
                name = todo.pop()
                if name == "..":
                    if len(dirs) > 1:
                        os.close(dirs.pop())
                        names.pop()
                    elif self.confined:
                        raise FsError("outside", "leads outside its root", path)
                    continue
                fd, st = self.step(dirs[-1], name, path, missing_ok and not todo)
                if st is None:  # the last name, not there yet
                    return Node(None, None, dirs.pop(), name, join(names[-1], name))
                if stat.S_ISLNK(st.st_mode):
                    hops += 1
                    if hops > MAX_HOPS:
                        close_all(fd)
                        raise FsError("loop", "too many levels of symbolic links", path)
                    target = self.readlink(fd, dirs[-1], name)
                    close_all(fd)
                    if target.startswith("/"):
                        rest = self.beneath(target)
                        if rest is None:
                            raise FsError("outside", "leads outside its root", path)
                        while len(dirs) > 1:
                            os.close(dirs.pop())
                            names.pop()
                        todo.extend(reversed(rest))
                    else:
                        todo.extend(reversed(components(target)))
                    continue
                if todo:
                    if not stat.S_ISDIR(st.st_mode):
                        close_all(fd)
                        raise FsError("not_dir", "Not a directory", path)
                    dirs.append(fd)
                    names.append(join(names[-1], name))
                    continue
                return Node(fd, st, dirs.pop(), name, join(names[-1], name))
            # Ended on a directory itself: root, or after `..`, or a link to `.`.
            top = dirs.pop()
            return Node(top, os.fstat(top), None, None, names[-1])
        finally:
            close_all(*dirs)

    @staticmethod
    def step(dirfd: "int", name: "str", path: "str", missing_ok: "bool") -> "tuple":
        """One component, not followed: (descriptor or None, lstat or None when missing)."""
        try:
            if O_PATH:
                fd = os.open(name, O_PATH | os.O_NOFOLLOW | O_CLOEXEC, dir_fd=dirfd)
                return fd, os.fstat(fd)
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                return None, st
            fd = os.open(name, os.O_RDONLY | O_DIRECTORY | os.O_NOFOLLOW | O_CLOEXEC, dir_fd=dirfd)
            return fd, os.fstat(fd)
        except FileNotFoundError:
            if missing_ok:
                return None, None
            raise FsError("missing", "No such file or directory", path) from None
        except OSError as exc:
            raise os_error(exc, path) from None

    @staticmethod
    def readlink(fd: "int | None", dirfd: "int", name: "str") -> "str":
        if fd is not None:
            try:
                return os.readlink("", dir_fd=fd)  # the link we hold, not whatever has the name now
            except OSError:
                pass
        return os.readlink(name, dir_fd=dirfd)

    def reopen(self, node: "Node", flags: "int", path: "str") -> "int":
        """The regular file ``node`` holds, opened for I/O: through /proc/self/fd (that inode,
        no name lookup), else by its name in its directory, checked to be the same inode."""
        flags |= O_NONBLOCK | O_NOCTTY | O_CLOEXEC
        if HAVE_PROC and node.fd is not None:
            fd = os.open(f"/proc/self/fd/{node.fd}", flags)
        else:
            fd = os.open(node.name, flags | os.O_NOFOLLOW, dir_fd=node.parent)
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (node.st.st_dev, node.st.st_ino) or not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise FsError("changed", "was replaced while it was opened; retry", path)
        return fd


def check_expected(real: "str", expect: "str | None", path: "str") -> None:
    if expect is not None and real != expect:
        raise FsError("changed", f"now resolves to {real}, not {expect}", path)


def require_file(st: "os.stat_result", path: "str") -> None:
    if stat.S_ISDIR(st.st_mode):
        raise FsError("is_dir", "is a directory", path)
    if not stat.S_ISREG(st.st_mode):
        raise FsError("not_regular", "is not a regular file", path)


# -- the operations -------------------------------------------------------------------------------


def op_resolve(tree: "Tree", req: "dict") -> "dict":
    path = req["path"]
    node = tree.node(path) if req.get("must_exist", True) else tree.slot(path)
    try:
        return {"real": tree.where(node, path)}
    finally:
        node.close()


def op_stat(tree: "Tree", req: "dict") -> "dict":
    path = req["path"]
    node = tree.node(path)
    try:
        real = tree.where(node, path)
        check_expected(real, req.get("expect"), path)
        return {"stat": stat_reply(real, node.st)}
    finally:
        node.close()


def op_read(tree: "Tree", req: "dict") -> "tuple":
    """The stat and an iterator over the data, in chunks of at most CHUNK."""
    path, offset, limit = req["path"], int(req.get("offset") or 0), req.get("limit")
    if offset < 0 or (limit is not None and not 0 <= int(limit) <= READ_MAX):
        raise FsError("invalid", f"offset must be >= 0 and limit 0-{READ_MAX}", path)
    node = tree.node(path)
    try:
        require_file(node.st, path)
        fd = tree.reopen(node, os.O_RDONLY, path)
        fallback = node.real
    finally:
        node.close()
    try:
        st = os.fstat(fd)
        real = tree.inside(fd_path(fd) or fallback, path)
        check_expected(real, req.get("expect"), path)
        if limit is None and st.st_size - offset > READ_MAX:
            raise FsError(
                "too_large", f"is {st.st_size} bytes, more than one read returns ({READ_MAX})", path
            )
        reply = {"stat": stat_reply(real, st)}
        wanted = req.get("sha256")  # "always", or "eof": when this read reaches the end
        size = READ_MAX if limit is None else int(limit)
        if wanted == "always" or (wanted == "eof" and offset + size >= st.st_size):
            reply["sha256"] = digest(fd)
    except BaseException:
        os.close(fd)
        raise
    return reply, chunks_of(fd, offset, size)


def digest(fd: "int") -> "str":
    """The sha256 of the whole file ``fd`` holds, read through that descriptor (not by name)."""
    h = hashlib.sha256()
    position = 0
    while True:
        data = os.pread(fd, CHUNK, position)
        if not data:
            return h.hexdigest()
        h.update(data)
        position += len(data)


def chunks_of(fd: "int", offset: "int", limit: "int") -> "Iterator[bytes]":
    """Up to ``limit`` bytes from ``offset``, to the end of the file as it is read; closes ``fd``."""
    try:
        position, left = offset, limit
        while left > 0:
            data = os.pread(fd, min(CHUNK, left), position)
            if not data:
                return
            position += len(data)
            left -= len(data)
            yield data
    finally:
        os.close(fd)


def op_write(tree: "Tree", req: "dict", source: "Iterable[bytes]") -> "dict":
    """Create, overwrite (a temp file renamed over the name, in the confined directory) or
    append; ``source`` yields the data. A conditional write (``if_version``) goes ahead only if
    the file is still the one that was read. Create and overwrite answer the sha256 of the temp
    file as written (read back through its descriptor after fsync) and, given ``sha256``, rename
    it over the name only when the two match (see ``commit``)."""
    path, mode = req["path"], req.get("mode", "overwrite")
    if mode not in ("create", "overwrite", "append"):
        raise FsError("invalid", "mode must be create, overwrite or append", path)
    check_commit_args(req, path)
    if mode == "append" and (req.get("sha256") is not None or req.get("file_mode") is not None):
        raise FsError("invalid", "sha256 and file_mode apply to create and overwrite, not append", path)
    for _ in range(3):  # a link swapped in for the name between the walk and the open: walk again
        node = tree.slot(path)
        try:
            real = tree.where(node, path)
            check_expected(real, req.get("expect"), path)
            st = node.st
            wanted = req.get("if_version")
            if wanted is not None and (st is None or version(st) != wanted):
                raise FsError("version", "changed since it was read", path)
            if mode == "append":
                done = append(node, st, source, path)
                if done is not None:
                    return {"stat": stat_reply(real, done)}
            else:
                written, sha = replace(node, st, source, mode, path, req)
                return {"stat": stat_reply(real, written), "sha256": sha}
        finally:
            node.close()
    raise FsError("changed", "kept changing while it was written; retry", path)


def check_commit_args(req: "dict", path: "str") -> None:
    """``file_mode`` (permission bits) and ``sha256`` (64 hex digits), when given."""
    file_mode, sha = req.get("file_mode"), req.get("sha256")
    if file_mode is not None and (type(file_mode) is not int or not 0 <= file_mode <= MODE_MAX):
        raise FsError(
            "invalid", "file_mode must be permission bits, 0 to 0o777 (no setuid/setgid/sticky)", path
        )
    if sha is not None and (
        not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)
    ):
        raise FsError("invalid", "sha256 must be 64 lowercase hex digits", path)


def append(
    node: "Node", st: "os.stat_result | None", source: "Iterable[bytes]", path: "str"
) -> "os.stat_result | None":
    if st is not None:
        require_file(st, path)  # never opened: a FIFO would block, a device act
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC
    try:
        fd = os.open(node.name, flags, 0o644, dir_fd=node.parent)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None
        if exc.errno == errno.ENXIO:  # a FIFO without a reader swapped in
            raise FsError("not_regular", "is not a regular file", path) from None
        raise
    try:
        require_file(os.fstat(fd), path)
        for data in source:
            write_all(fd, data)
        return os.fstat(fd)
    finally:
        os.close(fd)


def replace(
    node: "Node",
    st: "os.stat_result | None",
    source: "Iterable[bytes]",
    mode: "str",
    path: "str",
    req: "dict",
) -> "tuple":
    """Write a temp file beside the name and ``commit`` it: (the new file's stat, its sha256)."""
    refuse_target(st, mode, path)
    tmp = f".{node.name[:40]}.{os.urandom(4).hex()}.gtp-tmp"  # 40 characters: at most 160 bytes
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | O_CLOEXEC  # read back: the sha256
    fd = os.open(tmp, flags, 0o600, dir_fd=node.parent)
    try:
        for data in source:
            write_all(fd, data)
        return commit(fd, tmp, node, st, mode, path, req)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=node.parent)
        raise
    finally:
        os.close(fd)


def refuse_target(st: "os.stat_result | None", mode: "str", path: "str") -> None:
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise FsError("is_dir", "is a directory", path)
    if st is not None and mode == "create":
        raise FsError("exists", "file exists (mode 'create' never overwrites)", path)


def commit(
    fd: "int", tmp: "str", node: "Node", st: "os.stat_result | None", mode: "str", path: "str", req: "dict"
) -> "tuple":
    """Put the temp file ``tmp`` (open as ``fd``, read-write, in ``node``'s directory) in place
    of the name: its mode set (``file_mode``, else the old file's, else 0644), synced, and its
    sha256 computed from what is now on the disk, read back through the same descriptor. Given
    ``sha256``, a temp file that differs is removed and nothing is replaced: the bytes that
    arrived are not the ones the caller sent. (The caller removes ``tmp`` on any error.)"""
    wanted = req.get("file_mode")
    if wanted is None:
        wanted = st.st_mode & MODE_MAX if st is not None and stat.S_ISREG(st.st_mode) else 0o644
    os.fsync(fd)
    sha = digest(fd)
    expected = req.get("sha256")
    if expected is not None and sha != expected:  # checked first: a failed upload changes no mode
        raise FsError("checksum", f"arrived with sha256 {sha}, not {expected}: not written", path)
    os.fchmod(fd, wanted)
    if mode == "create":
        try:  # a hard link fails if the name appeared meanwhile, where a rename would replace it
            os.link(tmp, node.name, src_dir_fd=node.parent, dst_dir_fd=node.parent, follow_symlinks=False)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise FsError("exists", "file exists (mode 'create' never overwrites)", path) from None
            raise
        os.unlink(tmp, dir_fd=node.parent)
    else:
        os.rename(tmp, node.name, src_dir_fd=node.parent, dst_dir_fd=node.parent)
    return os.fstat(fd), sha


def staging_name(name: "str", key: "str", path: "str") -> "str":
    """Where a chunked upload of ``name`` is staged: beside it, hidden, named by ``key`` (the
    gateway's hash of who uploads and where, so a resumed upload finds its own staged bytes)."""
    if not (isinstance(key, str) and 8 <= len(key) <= 64 and all(c in "0123456789abcdef" for c in key)):
        raise FsError("invalid", "staging must be 8-64 lowercase hex digits", path)
    return f".{name[:40]}.gtp-upload-{key}"


def op_stage(tree: "Tree", req: "dict", source: "Iterable[bytes]") -> "dict":
    """One chunk of a chunked upload, written at ``offset`` into the staging file beside the
    name (created 0600 by the first chunk, offset 0, which starts over). ``offset`` must be the
    size staged so far, or the answer is an ``offset`` error naming it (a client resumes there).
    The ``final`` chunk commits the staging file over the name as a write does (``commit``:
    ``file_mode``, the sha256 checked on the host, the rename); a failed check removes it."""
    path, mode = req["path"], req.get("mode", "overwrite")
    offset, final = req.get("offset", 0), req.get("final") is True
    if mode not in ("create", "overwrite"):
        raise FsError("invalid", "mode must be create or overwrite", path)
    if type(offset) is not int or offset < 0:
        raise FsError("invalid", "offset must be an integer >= 0", path)
    check_commit_args(req, path)
    node = tree.slot(path)
    try:
        real = tree.where(node, path)
        check_expected(real, req.get("expect"), path)
        refuse_target(node.st, mode, path)
        name = staging_name(node.name, req.get("staging"), path)
        flags = os.O_RDWR | os.O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC
        if offset == 0:  # a fresh start: whatever was staged before goes
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=node.parent)
            flags |= os.O_CREAT | os.O_EXCL
        try:
            fd = os.open(name, flags, 0o600, dir_fd=node.parent)
        except FileNotFoundError:
            raise OffsetError(0, path) from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENXIO):
                raise FsError("not_regular", "its staging file is not a regular file", path) from None
            raise
        try:
            here = os.fstat(fd)
            if not stat.S_ISREG(here.st_mode):
                raise FsError("not_regular", "its staging file is not a regular file", path)
            if here.st_nlink != 1 or here.st_uid != os.geteuid():  # made by us, 0600, never linked
                raise FsError("not_regular", "its staging file was replaced (a link, or not ours)", path)
            if here.st_size != offset:
                raise OffsetError(here.st_size, path)
            os.lseek(fd, offset, os.SEEK_SET)
            for data in source:
                write_all(fd, data)
            if not final:
                return {"staged": os.fstat(fd).st_size}
            try:
                done, sha = commit(fd, name, node, node.st, mode, path, req)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=node.parent)
                raise
            return {"stat": stat_reply(real, done), "sha256": sha, "staged": done.st_size}
        finally:
            os.close(fd)
    finally:
        node.close()


def write_all(fd: "int", data: "bytes | memoryview") -> None:
    """All of it or an error: a raw write may stop short (a file-size limit, a full disk)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def op_list(tree: "Tree", req: "dict") -> "dict":
    """A directory's entries, each lstat'ed relative to the directory's own descriptor. With
    ``limit``, at most that many (the first the directory yields); without, refused above
    LIST_MAX."""
    path, limit = req["path"], req.get("limit")
    node = tree.node(path)
    try:
        if not stat.S_ISDIR(node.st.st_mode):
            raise FsError("not_dir", "Not a directory", path)
        fd = os.open(".", os.O_RDONLY | O_DIRECTORY | O_CLOEXEC, dir_fd=node.fd)
        fallback = node.real
    finally:
        node.close()
    try:
        real = tree.inside(fd_path(fd) or fallback, path)
        check_expected(real, req.get("expect"), path)
        cap = LIST_MAX if limit is None else int(limit)
        entries = []
        for name in names_in(fd):
            if len(entries) >= cap:
                if limit is None:
                    raise FsError("too_large", f"holds more than {LIST_MAX} entries", path)
                break
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:  # removed while we listed
                continue
            entries.append([name, file_type(st.st_mode), st.st_size, st.st_mtime])
        return {"real": real, "entries": entries}
    finally:
        os.close(fd)


def names_in(fd: "int") -> "Iterator[str]":
    if sys.version_info >= (3, 7):  # noqa: UP036 - hosts' Pythons: os.scandir takes a descriptor from 3.7
        with os.scandir(fd) as it:
            for entry in it:
                yield entry.name
    else:
        yield from os.listdir(fd)


def handle(req: "dict", source: "Iterable[bytes]") -> "tuple":
    """One request: (reply, data chunks or None). Raises FsError or OSError."""
    op = req.get("op")
    path = req.get("path")
    if not isinstance(path, str):
        raise FsError("invalid", "a request needs a path", "")
    tree = Tree(req.get("root"), req.get("cwd"))
    try:
        if op == "read":
            return op_read(tree, req)
        if op == "write":
            return op_write(tree, req, source), None
        if op == "stage":
            return op_stage(tree, req, source), None
        if op == "list":
            return op_list(tree, req), None
        if op == "stat":
            return op_stat(tree, req), None
        if op == "resolve":
            return op_resolve(tree, req), None
        raise FsError("invalid", f"unknown operation {op!r}", path)
    finally:
        tree.close()


def run(req: "dict", data: "bytes" = b"") -> "tuple":
    """One request in this process (the local executor, in a worker thread): (reply, data)."""
    path = req.get("path") or ""
    try:
        view = memoryview(data)
        reply, chunks = handle(req, [view[i : i + CHUNK] for i in range(0, len(view), CHUNK)])
        return reply, b"".join(chunks) if chunks is not None else b""
    except FsError as exc:
        return exc.reply(), b""
    except OSError as exc:
        return os_error(exc, path).reply(), b""


# -- the helper on an SSH host: frames on stdin and stdout ----------------------------------------
#
# A frame is a 4-byte big-endian length and that many bytes. A request is a JSON frame; a write's
# data follows it as frames of at most CHUNK bytes, then an empty frame. A reply is a JSON frame;
# when it says "data", frames of data follow, an empty frame, then a JSON trailer frame ({} or an
# error that happened while reading).


def read_frame(inp: "BinaryIO", limit: "int") -> "bytes | None":
    head = inp.read(4)
    if not head:
        return None
    if len(head) < 4:
        raise EOFError
    (size,) = struct.unpack(">I", head)
    if size > limit:
        raise ValueError(f"frame of {size} bytes")
    body = inp.read(size)
    if len(body) < size:
        raise EOFError
    return body


def write_frame(out: "BinaryIO", data: "bytes") -> None:
    out.write(struct.pack(">I", len(data)))
    out.write(data)


def write_json(out: "BinaryIO", value: "dict") -> None:
    write_frame(out, json.dumps(value).encode())


class Payload:
    """A write's data frames as they arrive; ``drain`` reads what the operation left unread."""

    def __init__(self, inp: "BinaryIO") -> None:
        self.inp = inp
        self.done = False

    def __iter__(self) -> "Iterator[bytes]":
        while not self.done:
            data = read_frame(self.inp, CHUNK)
            if data is None:
                raise EOFError
            if not data:
                self.done = True
                return
            yield data

    def drain(self) -> None:
        for _ in self:
            pass


def serve(inp: "BinaryIO", out: "BinaryIO") -> None:
    out.write(MAGIC)
    write_json(
        out,
        {
            "ready": PROTOCOL,
            "pid": os.getpid(),
            "python": list(sys.version_info[:3]),
            "kernel": platform.release(),
            "o_path": bool(O_PATH),
            "proc": HAVE_PROC,
        },
    )
    out.flush()
    while True:
        raw = read_frame(inp, REQUEST_MAX)
        if raw is None:
            return
        req = json.loads(raw.decode())
        payload = Payload(inp) if req.get("payload") else None
        chunks = None
        try:
            reply, chunks = handle(req, payload if payload is not None else [])
        except FsError as exc:
            reply = exc.reply()
        except OSError as exc:
            reply = os_error(exc, req.get("path") or "").reply()
        if payload is not None:
            payload.drain()
        if chunks is None:
            write_json(out, reply)
        else:
            reply["data"] = True
            write_json(out, reply)
            trailer = {}  # type: dict
            try:
                for data in chunks:
                    write_frame(out, data)
            except FsError as exc:
                trailer = exc.reply()
            except OSError as exc:
                trailer = os_error(exc, req.get("path") or "").reply()
            write_frame(out, b"")
            write_json(out, trailer)
        out.flush()


if __name__ == "__main__":  # run on a host by the ssh executor (files.py sends this source)
    serve(sys.stdin.buffer, sys.stdout.buffer)
