"""`python -m archc` runs the CLI."""
from archc.cli import main

if __name__ == "__main__":
    main(prog_name="archc")
