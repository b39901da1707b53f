"""Ctrl-C ends every archc command with exit code 130, whenever it comes (stdlib only: imported first).

Python's own SIGINT handler raises KeyboardInterrupt wherever the program happens to be: inside an
import (a traceback, exit 1), inside click's parser (its "Aborted!", exit 1), or while the process is
already printing its result (exit 0). `Interrupts` replaces it while a command runs: the first Ctrl-C
raises KeyboardInterrupt once, which the CLI turns into "archc: interrupted". A Ctrl-C during an import
is raised just after the import (torch aborts the process on an exception inside its start-up). Once the
CLI is leaving (`leaving()`), more Ctrl-C are only noted. Whatever the command's own result, an interrupted run exits
130. The previous handler is put back on exit (no process-wide state outlives the command).
"""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from types import FrameType, TracebackType
from typing import Any, Iterator, Optional

EXIT_INTERRUPTED = 130
RETRY_SECONDS = 0.05  # how soon a Ctrl-C that came during an import is raised again


def _inside_import(frame: Optional[FrameType]) -> bool:
    """Whether `frame` runs under an import: a module body, or Python that a C extension calls while loading."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False
_ACTIVE: ContextVar[Optional["Interrupts"]] = ContextVar("archc_interrupts", default=None)


def report_interrupt(say: Any, text: str = "archc: interrupted") -> None:
    """Say that the command was interrupted, once per command (the innermost `Interrupts` remembers it)."""
    active = _ACTIVE.get()
    if active is not None:
        if active.reported:
            return
        active.reported = True
    say(text)


@contextmanager
def deferred() -> Iterator[None]:
    """Inside the block a Ctrl-C is only noted (the command still exits 130 after it), so that what the block
    writes is not thrown away half done; outside any `Interrupts` block nothing changes."""
    active = _ACTIVE.get()
    if active is None:
        yield
        return
    before = active._leaving
    active._leaving = True
    try:
        yield
    finally:
        active._leaving = before


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
        self._pending = False  # a Ctrl-C came during an import and is still to be raised
        self._retry: Optional[threading.Timer] = None

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        first = not self.hit
        self.hit = True
        if self._leaving or not (first or self._pending):
            self._pending = False
            return
        if _inside_import(frame):
            # torch's C++ start-up calls Python while it is imported and calls std::terminate on an exception
            # there (SIGABRT, a C++ backtrace): raise once the import is over, by sending the signal again
            self._pending = True
            self._retry_soon()
            return
        self._pending = False
        raise KeyboardInterrupt

    def _retry_soon(self) -> None:
        def resend() -> None:
            if self._installed and self._pending and not self._leaving:
                os.kill(os.getpid(), signal.SIGINT)

        self._retry = threading.Timer(RETRY_SECONDS, resend)
        self._retry.daemon = True
        self._retry.start()

    def leaving(self) -> None:
        """From now on Ctrl-C only marks the run as interrupted (the exit code becomes 130)."""
        self._leaving = True
        self._pending = False

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
        self._pending = False
        if self._retry is not None:
            self._retry.cancel()
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
