"""The audit log: append-only JSONL where tampering shows.

Every request and every command or file operation the gateway runs is one line. An audit log is
only worth keeping if a reader can trust that what it shows is what happened, so three things
are built in:

* **a hash chain**: each line carries ``seq`` (its line number), ``prev`` (the hash of the line
  before) and ``hash``, the SHA-256 of its own canonical JSON with ``seq`` and ``prev`` included.
  Editing a line breaks its own hash; removing or reordering lines breaks ``seq`` and ``prev``.
* **a head file** (``audit.jsonl.head``) recording the last ``seq`` and ``hash``. Cutting lines
  off the end leaves a chain that is valid on its own; only a record kept outside the log can
  tell that it used to be longer. Appends continue from the head when the log is shorter than the
  head says, so a later append never papers over such a cut.
* **redaction before writing**: bearer tokens, API keys, private keys, ``password=``-style values
  and the gateway's own tokens are replaced by ``[REDACTED]`` before a line is built, so they
  never reach the disk (and are not part of any hash), whatever a command line or output held.

The chain has no secret key: it makes edits *evident*, it cannot stop someone who can write the
state folder from rewriting the whole log and head consistently. Copying the head's hash
elsewhere from time to time (a ticket, a chat, another host) pins the history up to that point.

Appends take an exclusive ``flock`` on the log, so several processes (the server, a CLI) can
append to one file and the chain stays whole; readers take a shared one so they never see a
half-written line. To rotate the log, move the log and its head file together.

An append is durable (fsynced) before it returns. In the server, :class:`AuditWriter` lets events
recorded at the same moment share one write and one fsync, so a busy gateway does not queue on
the disk one event at a time; a job's event that a waiting request will report is queued and
goes out with that request's own, before its response.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from gtp_remote.errors import AuditUnavailableError
from gtp_remote.settings import private_file

GENESIS = "0" * 64
_log = logging.getLogger("gtp_remote.audit")
REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 6
MEMO_TEXT_MAX = 128  # AuditLog.redact remembers texts up to this long ...
MEMO_ENTRIES = 4096  # ... this many at a time
#: Free space the log's disk must have for an action to start: enough for its events and the job
#: store's pages, so that an action never runs and then finds no room for its record.
RESERVE_BYTES = 1 << 20

# Names whose value is a secret in ``name=value``, ``name: value`` and ``"name": "value"`` forms.
# A prefix is allowed (DB_PASSWORD, aws_secret_access_key, client_secret, X-Auth-Token).
_SECRET_NAMES = r"password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key"
_QUOTED = r"\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'"


def _keep_quotes(value: str) -> str:
    """A quoted secret keeps its quotes, so shell and JSON text stays readable after redaction."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[0] + REDACTED + value[0]
    return REDACTED


_PATTERNS: list[tuple[re.Pattern[str], Any]] = [
    # PEM / PGP private keys, the whole block; a block cut short (truncated output) to the end.
    (
        re.compile(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY[A-Z ]*)-----(?:.*?-----END \1-----|.*)", re.S),
        REDACTED,
    ),
    (re.compile(r"(?i)\b(bearer)([ \t]+)[A-Za-z0-9._~+/=-]+"), r"\1\2" + REDACTED),
    (re.compile(r"(?i)\b(authorization:[ \t]*basic[ \t]+)[A-Za-z0-9+/=]+"), r"\1" + REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{10,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b"), REDACTED),
    # --password VALUE, --db-password=VALUE, --api-key VALUE (a following --flag is not a value).
    (
        re.compile(
            r"(?i)(--[a-z0-9-]*?(?:password|passwd|token|secret|api-?key|access-?key))"
            rf"(?:(=)({_QUOTED}|\S+)|([ \t]+)(?!-)({_QUOTED}|\S+))"
        ),
        lambda m: m[1] + (m[2] or m[4]) + _keep_quotes(m[3] or m[5]),
    ),
    # password=VALUE, PGPASSWORD=VALUE, token: VALUE, "api_key": "VALUE"; not inside a URL's
    # user part (https://token:x@host is the next pattern's) and not ``password == other``.
    (
        re.compile(
            rf"(?i)\b(?<!://)([a-z0-9_]*?(?:{_SECRET_NAMES}))([\"']?[ \t]*[=:][ \t]*)"
            rf"({_QUOTED}|[^\s&;\"',}}=][^\s&;\"',}}]*)"
        ),
        lambda m: m[1] + m[2] + _keep_quotes(m[3]),
    ),
    # scheme://user:password@host (the user part may be empty: redis://:password@host).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^@\s/]+@"), r"\1:" + REDACTED + "@"),
]
# Text in which none of the patterns above can match: each needs one of these words. Checking
# this first (one scan) skips the nine scans for almost every field of an event: redacting a
# request's two events took ~0.2 ms of the gateway's CPU, most of the audit's cost.
# test_audit checks that every pattern's examples hit it.
_TRIGGERS = re.compile(
    r"(?i)-----begin|bearer|authorization|sk-|akia|asia|gh[pousr]_|github_pat_|pass|pwd|secret|token|key|://"
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets and secret-looking values replaced by ``[REDACTED]``.

    Literal secrets go first and longest first, so a secret that contains a shorter one is not
    left half-visible. The patterns then catch what no one told us about: credentials typed into
    command lines or printed by commands.
    """
    return _redact(text, _longest_first(secrets))


def _longest_first(secrets: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted((s for s in secrets if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True))


def _redact(text: str, ordered: tuple[str, ...]) -> str:
    for secret in ordered:
        text = text.replace(secret, REDACTED)
    if _TRIGGERS.search(text) is None:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any, redact_text: Callable[[str], str]) -> Any:
    """Redact every string in a JSON-like value; anything else becomes a (redacted) string.

    Converting here, not with ``json.dumps(default=str)``, matters: a ``str()`` made at dump time
    would bypass redaction.
    """
    if isinstance(value, str):
        return redact_text(_encodable(value))
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {redact_text(_encodable(str(k))): _redact_value(v, redact_text) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v, redact_text) for v in value]
    return redact_text(_encodable(str(value)))


def _encodable(text: str) -> str:
    """``text`` as UTF-8 can hold it: a lone surrogate (which JSON parsers let through from
    ``\\ud800`` in a client's input) is written as its escape. Without this one such string made
    the event unwritable, and the writer, keeping events in order, refused every later one."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def _canonical(event: dict[str, Any]) -> str:
    """One spelling per event, so a hash can be recomputed from the parsed line."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _hash(event: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in event.items() if k != "hash"}).encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def head_path(path: Path) -> Path:
    """The sidecar beside the log (``audit.jsonl.head``) that records the last seq and hash."""
    return path.with_name(path.name + ".head")


class AuditLogError(RuntimeError):
    """The log cannot be continued (its last line is not a line we wrote): fail, don't guess.

    Appending after a torn or edited last line would either glue onto it or hide it behind a
    fresh chain; ``gtp-remote audit verify`` names the line.
    """


class AuditLog:
    """One audit file, shared safely by the threads of this process and by other processes."""

    def __init__(self, path: Path, secrets: Iterable[str] = ()) -> None:
        self.path = path
        self._secrets: tuple[str, ...] = ()  # longest first
        self._memo: dict[str, str] = {}
        for secret in secrets:
            self.add_secret(secret)
        self._lock = threading.Lock()
        self._last: tuple[int, str] | None = None  # (seq, hash) of the last line we know of
        self._size = -1  # the file size right after our last write
        private_file(path)

    def add_secret(self, value: str) -> None:
        """Blank a value learnt later (a token created at run time); short values are ignored
        because replacing every "abc" in the log would destroy it without protecting anything."""
        if value and len(value) >= MIN_SECRET_LENGTH and value not in self._secrets:
            # Replaced whole, secrets before memo: a thread that sees the new memo sees the new
            # secrets (redact reads them the other way round).
            self._secrets = _longest_first((*self._secrets, value))
            self._memo = {}

    def redact(self, text: str) -> str:
        """``redact`` with this log's secrets; short texts are remembered, since events repeat
        the same keys and values (names, servers, statuses) line after line."""
        if len(text) > MEMO_TEXT_MAX:
            return _redact(text, self._secrets)
        memo = self._memo
        done = memo.get(text)
        if done is None:
            done = _redact(text, self._secrets)
            if len(memo) >= MEMO_ENTRIES:
                memo.clear()
            memo[text] = done
        return done

    def check_writable(self) -> None:
        """Raise :class:`AuditUnavailableError` unless an action's events can be written: the
        log's disk has ``RESERVE_BYTES`` free. Called before an action runs (fail closed)."""
        try:
            st = os.statvfs(self.path.parent)
        except OSError as exc:
            raise self._unavailable(exc) from None
        if st.f_bavail * st.f_frsize < RESERVE_BYTES:
            raise self._unavailable(OSError(errno.ENOSPC, "less than 1 MiB free on its disk"))

    @contextlib.contextmanager
    def _opened(self) -> Iterator[IO[bytes]]:
        """The log, open to append; AuditUnavailableError when it cannot be opened (out of file
        descriptors under a flood of connections, permissions), not a 500 with a traceback."""
        try:
            f = open(self.path, "a+b")  # noqa: SIM115 (closed below, after the caller's block)
        except OSError as exc:
            raise self._unavailable(exc) from None
        with f:
            yield f

    def _unavailable(self, exc: OSError) -> AuditUnavailableError:
        return AuditUnavailableError(
            f"the audit log {self.path} cannot be written ({exc.strerror or exc}): "
            "actions are refused until it can",
            hint="free space on the disk holding the state folder (or fix its permissions); "
            "the gateway recovers by itself",
        )

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Write one event; returns it as written (redacted, with time, seq, prev and hash).

        Blocking (flock, fsync): async callers use :class:`AuditWriter`.
        """
        return self.append_many([event])[0]

    def append_many(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write several events under one lock and one fsync (a group commit).

        The fsync is what an append costs (~0.2 ms here); events that arrive together share it.
        The lines are on disk when this returns; the head file is rewritten in place without an
        fsync: a crash can leave it behind the log, which ``verify`` accepts and the next append
        catches up, but never ahead of it.

        All or nothing: when the disk refuses a write (full, an I/O error), what was written of
        the batch is cut off again, so no torn line is left for the next append to refuse, and
        :class:`AuditUnavailableError` is raised.
        """
        bodies = []
        for event in events:
            body: dict[str, Any] = _redact_value(event, self.redact)
            body.setdefault("time", _now())
            for field in ("seq", "prev", "hash"):
                body.pop(field, None)
            bodies.append(body)
        if not bodies:
            return []
        with self._lock, self._opened() as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                size = os.fstat(f.fileno()).st_size
                if self._last is None or size != self._size:  # first use, or another process wrote
                    self._last = self._chain_end(f, size)
                seq, prev = self._last
                lines = []
                for body in bodies:
                    seq += 1
                    body["seq"], body["prev"] = seq, prev
                    body["hash"] = prev = _hash(body)
                    lines.append(_canonical(body) + "\n")
                try:
                    data = memoryview("".join(lines).encode())
                    while data:  # unbuffered: a refused write leaves nothing behind to flush
                        data = data[os.write(f.fileno(), data) :]
                    os.fsync(f.fileno())
                    _write_head(self.path, seq, prev)
                except OSError as exc:
                    with contextlib.suppress(OSError):
                        os.ftruncate(f.fileno(), size)
                    raise self._unavailable(exc) from None
                self._last = (seq, prev)
                self._size = os.fstat(f.fileno()).st_size
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        return bodies

    def _chain_end(self, f: IO[bytes], size: int) -> tuple[int, str]:
        """The (seq, hash) the next line continues from.

        The log's last line, unless the head file records a later or different end: then the log
        was cut or its last line replaced, and continuing from the head keeps that visible
        instead of sealing the shortened log with a fresh head.
        """
        line = _read_last_line(f, size)
        if line:
            try:
                last = json.loads(line)
                end = (int(last["seq"]), str(last["hash"]))
            except (ValueError, TypeError, KeyError) as exc:
                raise AuditLogError(
                    f"{self.path}: the last line is not an audit event ({exc}); "
                    "run 'gtp-remote audit verify' and repair or move the log"
                ) from exc
        else:
            end = (0, GENESIS)
        head = _read_head(self.path)
        if head is not None and head[0] >= end[0]:
            return head
        return end


class AuditWriter:
    """Group commit for async callers: one thread call, one lock and one fsync per batch.

    ``record`` returns once its event is on disk, as a direct append would. Events recorded
    while a batch is being written wait for it and go out together in the next one. A caller
    cancelled while waiting does not take its event back: it is written anyway.

    ``add`` queues an event without waiting: it goes out with the next ``record``'s batch, or
    on its own after :data:`ADD_WINDOW` seconds. The API uses it for a job's event when a
    request is waiting to answer with the job's outcome: that request's own event, recorded
    before its response is sent, then carries the job's to disk in the same write and fsync
    (one thread hop and one fsync per request instead of two, ~0.5 ms here).
    """

    ADD_WINDOW = 0.05

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self._pending: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]] | None]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        # A thread of its own: file reads and checkpoints that hold the shared pool's threads
        # (a slow disk, a hung network mount) must never keep the audit, and so every request,
        # waiting.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="gtp-audit")

    async def record(self, event: dict[str, Any]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending.append((event, future))
        self._start()
        return await asyncio.shield(future)

    def add(self, event: dict[str, Any]) -> None:
        """Queue ``event``; it is on disk before any later ``record`` returns (a record whose
        batch fails raises, and the event stays queued for the next)."""
        self._pending.append((event, None))
        if self._flushing is None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.ADD_WINDOW, self._start)

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is None and self._pending:
            self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    events = [e for e, _ in batch]
                    loop = asyncio.get_running_loop()
                    written = await loop.run_in_executor(self._thread, self.log.append_many, events)
                except Exception as exc:  # the disk or the log failed: every waiter hears why
                    for _, future in batch:
                        if future is not None and not future.done():
                            future.set_exception(exc)
                    # Queued events have no one to tell: they go back to the front, so no later
                    # record() can succeed without them. Tried again only along with a waiter's
                    # event, so a broken disk is not retried in a loop.
                    unheard = [item for item in batch if item[1] is None]
                    if unheard:
                        _log.error("audit: %d queued event(s) not written yet: %s", len(unheard), exc)
                        self._pending[:0] = unheard
                        if all(future is None for _, future in self._pending):
                            break
                    continue
                for (_, future), body in zip(batch, written, strict=True):
                    if future is not None and not future.done():
                        future.set_result(body)
        finally:
            self._flushing = None

    async def flush(self) -> None:
        """Wait until every event recorded or added so far has been tried (written, unless the
        log failed: then queued events stay queued and their error was logged)."""
        self._start()
        while self._flushing is not None:
            await asyncio.shield(self._flushing)

    async def close(self) -> None:
        """Write everything still queued."""
        await self.flush()
        if self._pending:
            _log.error("audit: %d queued event(s) could not be written before closing", len(self._pending))
        self._thread.shutdown(wait=False)


def _read_last_line(f: IO[bytes], size: int) -> bytes:
    """The last non-empty line, read backwards in blocks: the log can be large."""
    end = size
    chunks: list[bytes] = []
    while end > 0:
        start = max(0, end - 4096)
        f.seek(start)
        chunks.insert(0, f.read(end - start))
        data = b"".join(chunks).rstrip(b"\n")
        if b"\n" in data or start == 0:
            return data.rsplit(b"\n", 1)[-1]
        end = start
    return b""


def _read_head(path: Path) -> tuple[int, str] | None:
    """The head file's (seq, hash); None when missing or unreadable (verify reports those)."""
    try:
        head = json.loads(head_path(path).read_text(encoding="utf-8"))
        return int(head["seq"]), str(head["hash"])
    except (OSError, ValueError, TypeError, KeyError):
        return None


HEAD_SIZE = 128  # one fixed-size record, far below a disk sector: rewritten whole or not at all


def _write_head(path: Path, seq: int, digest: str) -> None:
    """Rewrite the head in place, as one fixed-size record.

    Called with the log's exclusive lock held, and readers hold the shared one, so nobody sees a
    half-written head. No fsync: it cost more than the log's own and buys nothing the chain
    needs (a head left behind by a crash is accepted). A new or resized head file is synced
    once, so a crash right after creating it cannot leave it empty.
    """
    record = json.dumps({"seq": seq, "hash": digest}).encode().ljust(HEAD_SIZE - 1) + b"\n"
    fd = os.open(head_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fresh = os.fstat(fd).st_size != HEAD_SIZE
        os.pwrite(fd, record, 0)
        if fresh:
            os.ftruncate(fd, HEAD_SIZE)
            os.fsync(fd)
    except OSError:
        if fresh:  # a new head the disk had no room for: none, rather than a broken one
            with contextlib.suppress(OSError):
                head_path(path).unlink()
        raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def _shared(path: Path) -> Iterator[IO[bytes]]:
    """The log opened for reading under a shared lock, so a writer's line is whole or absent."""
    with open(path, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_SH)
        try:
            yield f
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass(frozen=True)
class VerifyResult:
    """What ``verify`` found.

    ``lines`` is how many lines were read (up to the broken one); ``line`` the line the error is
    about: for lines cut from the end, the first missing line; None when the error is about the
    head file itself.
    """

    ok: bool
    lines: int
    error: str | None = None
    line: int | None = None


def verify(path: Path, *, snapshot: bool = False) -> VerifyResult:
    """Walk the chain; the first broken line is reported with what is wrong with it.

    Each line is checked for its own hash first, so an edited line is named as edited even when
    the edit was to ``seq`` or ``prev``; an intact line in the wrong place fails ``seq`` or
    ``prev``.

    The walk holds a shared lock, which keeps writers (and so every audited request) waiting on a
    long log. With ``snapshot`` the lock is held only to read the head file and the log's size;
    the lines up to that size are then walked without it: writers only append past it, and the
    head file is never ahead of the lines (what the console uses, so a page load stalls nobody).
    """
    head_file = head_path(path)
    if not path.exists():  # a deleted log is fine only if no head says it had lines
        return _check_head(0, _read_head(path), None, head_file)
    if snapshot:
        with _shared(path) as f:
            head = _read_head(path)
            size = os.fstat(f.fileno()).st_size
        with open(path, "rb") as f:
            return _walk(_lines_up_to(f, size), head, head_file)
    with _shared(path) as f:
        head = _read_head(path)
        return _walk(f, head, head_file)


def _lines_up_to(f: IO[bytes], size: int) -> Iterator[bytes]:
    while f.tell() < size:
        line = f.readline(size - f.tell())
        if not line:
            return
        yield line


def _walk(lines: Iterable[bytes], head: tuple[int, str] | None, head_file: Path) -> VerifyResult:
    prev, count = GENESIS, 0
    head_seen: str | None = None  # the hash of the line the head file points at
    for number, raw in enumerate(lines, 1):
        count = number
        try:
            event = json.loads(raw)
        except ValueError:
            return _broken(number, f"line {number}: not valid JSON (the line was edited or cut)")
        if not isinstance(event, dict):
            return _broken(number, f"line {number}: not a JSON object (the line was edited)")
        if event.get("hash") != _hash(event):
            return _broken(number, f"line {number}: hash mismatch (the line was edited)")
        if event.get("seq") != number:
            return _broken(
                number,
                f"line {number}: seq is {event.get('seq')}, expected {number} "
                "(a line was removed or reordered)",
            )
        if event.get("prev") != prev:
            what = "the start of the chain" if number == 1 else f"line {number - 1}'s hash"
            return _broken(
                number, f"line {number}: prev does not match {what} (a line was removed or reordered)"
            )
        prev = event["hash"]
        if head is not None and number == head[0]:
            head_seen = prev
    return _check_head(count, head, head_seen, head_file)


def _broken(number: int, error: str) -> VerifyResult:
    return VerifyResult(False, number, error, number)


def _check_head(
    count: int, head: tuple[int, str] | None, head_seen: str | None, head_file: Path
) -> VerifyResult:
    """Compare the end of a valid chain with the head file.

    A head behind the log is accepted when it matches the line it names: that is what a crash
    between writing a line and replacing the head leaves, and the next append catches it up.
    """
    if head is None:
        if count == 0 and not head_file.exists():
            return VerifyResult(True, 0)
        state = "is not valid" if head_file.exists() else "missing"
        return VerifyResult(
            False,
            count,
            f"head file {state} ({head_file.name}): cannot tell whether lines were cut from the end",
        )
    seq, digest = head
    if seq > count:
        return VerifyResult(
            False,
            count,
            f"log ends at line {count} but the head file records line {seq} "
            "(lines were removed from the end)",
            count + 1,
        )
    if head_seen != digest:
        return VerifyResult(
            False,
            count,
            f"line {seq}: hash does not match the head file (the line was replaced)",
            seq,
        )
    return VerifyResult(True, count)


def tail(path: Path, n: int = 20) -> list[dict[str, Any]]:
    """The last ``n`` events, oldest first, read from the end of the file.

    Reading backwards in blocks keeps ``audit tail`` instant on a log of millions of lines.
    """
    if n <= 0 or not path.exists():
        return []
    with _shared(path) as f:
        end = os.fstat(f.fileno()).st_size
        chunks: list[bytes] = []
        newlines = 0
        while end > 0 and newlines <= n:
            start = max(0, end - 65536)
            f.seek(start)
            chunk = f.read(end - start)
            chunks.insert(0, chunk)
            newlines += chunk.count(b"\n")
            end = start
    lines = [line for line in b"".join(chunks).split(b"\n") if line.strip()]
    return [json.loads(line) for line in lines[-n:]]
