"""`python -m archc` and the `archc` command. Ctrl-C while archc itself is still being imported also exits
130 (the handler goes in before click, pydantic or torch are imported)."""
from __future__ import annotations

import sys
from typing import NoReturn


def run() -> NoReturn:
    from archc.interrupts import EXIT_INTERRUPTED, Interrupts

    with Interrupts() as early:  # the CLI nests its own; this one covers the import of the CLI
        try:
            from archc.cli import main
        except KeyboardInterrupt:
            early.leaving()
            sys.stderr.write("archc: interrupted\n")
            sys.exit(EXIT_INTERRUPTED)
        if early.hit:
            sys.stderr.write("archc: interrupted\n")
            sys.exit(EXIT_INTERRUPTED)
        main(prog_name="archc")  # exits with the command's code
    sys.exit(EXIT_INTERRUPTED if early.hit else 0)

if __name__ == "__main__":
    run()
