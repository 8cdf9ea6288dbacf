"""Bounded capture of a command's output: keep the head and the tail, count everything.

A command can print gigabytes; a caller (a terminal, ChatGPT, an LLM) needs the start, where
the command says what it is doing, and the end, where it says how it failed. The middle is
dropped and replaced by a marker that says how much was cut.
"""

from __future__ import annotations

import json

DEFAULT_OUTPUT_LIMIT = 1024 * 1024


class OutputBuffer:
    """Collects bytes up to ``limit``: the first half verbatim, then a rolling tail."""

    def __init__(self, limit: int = DEFAULT_OUTPUT_LIMIT):
        self.limit = max(limit, 2)
        self._head_cap = self.limit // 2
        self._tail_cap = self.limit - self._head_cap
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_cap - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            if len(self._tail) > 2 * self._tail_cap:
                del self._tail[: len(self._tail) - self._tail_cap]

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    def text(self) -> str:
        if not self.truncated:
            return (bytes(self._head) + bytes(self._tail)).decode("utf-8", "replace")
        tail = bytes(self._tail[-self._tail_cap :])
        cut = self.total - len(self._head) - len(tail)
        head = bytes(self._head).decode("utf-8", "replace")
        return f"{head}\n[... {cut} bytes truncated ...]\n{tail.decode('utf-8', 'replace')}"


def clip_text(text: str, limit: int) -> tuple[str, bool]:
    """Clip an already decoded string to ``limit`` characters, head and tail kept."""
    if len(text) <= limit:
        return text, False
    half = max(limit // 2 - 40, 0)
    cut = len(text) - 2 * half
    return f"{text[:half]}\n[... {cut} characters truncated ...]\n{text[-half:] if half else ''}", True


def json_chars(text: str) -> int:
    """Characters ``text`` takes inside a JSON string as we send it (``ensure_ascii=False``):
    a quote or a newline takes 2, any other control character 6 (NUL bytes in binary output)."""
    return len(json.dumps(text, ensure_ascii=False)) - 2


def clip_json(text: str, limit: int) -> tuple[str, bool]:
    """``clip_text``, but so that the text takes at most ``limit`` characters inside JSON."""
    if len(text) <= limit and (len(text) * 6 <= limit or json_chars(text) <= limit):
        return text, False  # (longer than limit, it cannot fit: not measured whole)
    lo, hi = 0, min(limit, len(text))  # the most characters clip_text may keep: found by bisection
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if json_chars(clip_text(text, mid)[0]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return clip_text(text, lo)[0], True
