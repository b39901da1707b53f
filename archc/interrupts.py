"""Ctrl-C ends every archc command with exit code 130, whenever it comes (stdlib only: imported first).

Python's own SIGINT handler raises KeyboardInterrupt wherever the program happens to be: inside an
import (a traceback, exit 1), inside click's parser (its "Aborted!", exit 1), or while the process is
already printing its result (exit 0). `Interrupts` replaces it while a command runs: the first Ctrl-C
raises KeyboardInterrupt once, which the CLI turns into "archc: interrupted"; once the CLI is leaving
(`leaving()`), more Ctrl-C are only noted. Whatever the command's own result, an interrupted run exits
130. The previous handler is put back on exit (no process-wide state outlives the command).
"""
from __future__ import annotations

import signal
import threading
from contextvars import ContextVar
from types import FrameType, TracebackType
from typing import Any, Optional

EXIT_INTERRUPTED = 130
_ACTIVE: ContextVar[Optional["Interrupts"]] = ContextVar("archc_interrupts", default=None)


def report_interrupt(say: Any, text: str = "archc: interrupted") -> None:
    """Say that the command was interrupted, once per command (the innermost `Interrupts` remembers it)."""
    active = _ACTIVE.get()
    if active is not None:
        if active.reported:
            return
        active.reported = True
    say(text)


def interrupted() -> bool:
    """Whether a Ctrl-C has come during the innermost running `Interrupts` block: an error raised after it
    (a library that swallowed the KeyboardInterrupt and then failed half-imported) is its consequence."""
    active = _ACTIVE.get()
    return bool(active is not None and active.hit)


class Interrupts:
    """Context manager: SIGINT -> one KeyboardInterrupt, `hit` remembers it; absorbed once leaving."""

    def __init__(self) -> None:
        self.hit = False
        self.reported = False  # "archc: interrupted" has been said
        self._leaving = False
        self._previous: Any = None
        self._installed = False
        self._token: Any = None

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        first = not self.hit
        self.hit = True
        if first and not self._leaving:
            raise KeyboardInterrupt

    def leaving(self) -> None:
        """From now on Ctrl-C only marks the run as interrupted (the exit code becomes 130)."""
        self._leaving = True

    def __enter__(self) -> "Interrupts":
        self._token = _ACTIVE.set(self)
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._handle)
                self._installed = True
            except (ValueError, OSError):  # an embedding that owns signals
                self._installed = False
        return self

    def __exit__(self, kind: Optional[type], value: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
