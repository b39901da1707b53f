"""`python -m archc` and the `archc` command. Ctrl-C while archc itself is still being imported also exits
130 (the handler goes in before click, pydantic or torch are imported)."""
from __future__ import annotations

import os
import sys
from typing import NoReturn


def _exit_interrupted(code: int) -> NoReturn:
    """Exit 130 now. CPython marks a KeyboardInterrupt raised inside code that a C extension runs while it is
    imported (PyRun_String) as unhandled even when archc caught it, and would then end the process by SIGINT
    (status -2) at shutdown; the streams are flushed and the process ends with the code it should."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def run() -> NoReturn:
    from archc.interrupts import EXIT_INTERRUPTED, Interrupts

    with Interrupts() as early:  # the CLI nests its own; this one covers the import of the CLI
        try:
            from archc.cli import main

            if early.hit:  # a Ctrl-C during the import is held until the import is over
                raise KeyboardInterrupt
            main(prog_name="archc")  # exits with the command's code
        except KeyboardInterrupt:  # during the import, or after the CLI's own handler was put back
            early.leaving()
            sys.stderr.write("archc: interrupted\n")
            _exit_interrupted(EXIT_INTERRUPTED)
        except SystemExit as exc:
            if exc.code == EXIT_INTERRUPTED:
                early.leaving()
                _exit_interrupted(EXIT_INTERRUPTED)
            raise
    sys.exit(EXIT_INTERRUPTED if early.hit else 0)


if __name__ == "__main__":
    run()
