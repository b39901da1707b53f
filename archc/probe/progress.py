"""A one-line progress bar on stderr: steps, rate, ETA and the current loss. On a terminal it redraws in
place (at most 10 times a second); otherwise it prints a plain line every 10% of the run."""
from __future__ import annotations

import math
import sys
import time
from typing import Optional, TextIO


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"


class Progress:
    def __init__(self, total: int, label: str = "", stream: Optional[TextIO] = None, enabled: bool = True,
                 width: int = 24, batch: int = 0) -> None:
        self.total = max(1, total)
        self.batch = batch  # images per step, for an images/s figure
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1
        self._open = False

    def line(self, done: int, loss: Optional[float] = None, acc: Optional[float] = None) -> str:
        elapsed = time.perf_counter() - self.started
        rate = done / elapsed if elapsed > 0 and done else 0.0
        eta = (self.total - done) / rate if rate else float("nan")
        filled = int(self.width * done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        parts = [f"{self.label} " if self.label else "", f"[{bar}] {done}/{self.total}",
                 f" {rate:.2f} step/s" if rate else "",
                 f" {rate * self.batch:,.0f} img/s" if rate and self.batch else "", f" ETA {_clock(eta)}"]
        if loss is not None:
            parts.append(f" loss {loss:.4g}")
        if acc is not None:
            parts.append(f" acc {acc:.1%}")
        return "".join(parts)

    def update(self, done: int, loss: Optional[float] = None, acc: Optional[float] = None) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            if done < self.total and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            self.stream.write("\r\x1b[2K" + self.line(done, loss, acc))
            self._open = True
        else:
            decile = 10 * done // self.total
            if decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(self.line(done, loss, acc) + "\n")
        self.stream.flush()

    def close(self, message: str = "") -> None:
        if not self.enabled:
            return
        if self._open:
            self.stream.write("\n")
            self._open = False
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()
