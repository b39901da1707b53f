"""Ctrl-C under data-parallel training: every process stops at the same step."""
from __future__ import annotations

import signal
from typing import Any, Callable, Optional

import torch

from archc.probe.collectives import all_reduce_sum


class InterruptGuard:
    """Under DDP a Ctrl-C must stop every process at the same step: a process that left mid-step would leave
    the others waiting in a collective. The training loop asks `agreed()` at each check: one all-reduce of
    "was I asked to stop?", so all stop together.

    Asked how: `--nproc` workers ignore SIGINT altogether, so no signal lands inside a collective, and poll
    `stop`, an event their launcher sets. Under torchrun SIGINT is caught and only sets a flag. `raising()` restores the usual KeyboardInterrupt for work one process does
    alone (the path gradients on rank 0)."""

    def __init__(self, active: bool, stop: Optional[Callable[[], bool]] = None) -> None:
        import threading

        self.active = active
        self.stop = stop
        self.catch = active and stop is None and threading.current_thread() is threading.main_thread()
        self.signalled = False
        self._previous: Any = None

    @property
    def requested(self) -> bool:
        return self.signalled or bool(self.stop is not None and self.stop())

    def _handler(self, signum: int, frame: Any) -> None:
        self.signalled = True

    def __enter__(self) -> "InterruptGuard":
        if self.catch:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.catch:
            signal.signal(signal.SIGINT, self._previous)

    def agreed(self, device: torch.device) -> bool:
        """True on every process when any of them was asked to stop (one all-reduce)."""
        if not self.active:
            return False
        flag = torch.tensor([1.0 if self.requested else 0.0], device=device)
        all_reduce_sum(flag)
        return bool(flag.item() > 0)

    def raising(self) -> Any:
        import contextlib

        @contextlib.contextmanager
        def scope() -> Any:
            if self.requested:
                raise KeyboardInterrupt
            if not self.catch:
                yield
                return
            signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                yield
            finally:
                signal.signal(signal.SIGINT, self._handler)
        return scope()
