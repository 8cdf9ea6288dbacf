"""Executors: one interface (``Executor``), one implementation per transport."""

from gtp_remote.executors.base import CheckResult, DirEntry, Executor, FileStat, Output, RunResult

__all__ = ["CheckResult", "DirEntry", "Executor", "FileStat", "Output", "RunResult"]
