"""The `archc` command line: a thin adapter over the Python API.

Exit codes: 0 ok, 1 runtime failure, 2 bad input (spec, path, option). Errors are one line on
stderr; `archc --debug ...` shows the traceback instead.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Optional

import click

from archc.bundled import bundled_specs, bundled_specs_dir, repo_root, resolve_spec_arg  # noqa: F401 (re-exported)
from archc.errors import ArchcError

EXIT_OK, EXIT_RUNTIME, EXIT_BAD_INPUT = 0, 1, 2


class ArchcGroup(click.Group):
    """Turns ArchcError into one located line and the documented exit code; loads area commands lazily;
    a usage error is one line (exit 2); Ctrl-C at any moment exits 130."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        lazy = [name for name, (module, _, _) in LAZY_COMMANDS.items() if _module_file_exists(module)]
        return sorted(set(super().list_commands(ctx)) | set(lazy))

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        command = super().get_command(ctx, name)
        if command is None and name in LAZY_COMMANDS:
            import importlib

            module_name, attr, _ = LAZY_COMMANDS[name]
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and module_name.startswith(exc.name):
                    return None
                raise
            command = getattr(module, attr, None)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list without importing the area commands (torch, matplotlib): their one-line help
        is kept in LAZY_COMMANDS (a test checks it matches the commands' own)."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            eager = super().get_command(ctx, name)
            if eager is not None:
                if not eager.hidden:
                    rows.append((name, eager.get_short_help_str(limit)))
            else:
                rows.append((name, click.Command(name, help=LAZY_COMMANDS[name][2]).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, args: Optional[Any] = None, prog_name: Optional[str] = None, complete_var: Optional[str] = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        from archc.interrupts import EXIT_INTERRUPTED, Interrupts, report_interrupt

        say = _say_once_per_job()
        given = list(sys.argv[1:] if args is None else args)
        for i, arg in enumerate(given, 1):  # bytes that are not UTF-8 reach Python as lone surrogates
            if isinstance(arg, str) and any("\ud800" <= ch <= "\udfff" for ch in arg):
                say(f"archc: error: argument {i} is not valid UTF-8: {arg.encode('utf-8', 'backslashreplace')!r}"
                    " (expected UTF-8 text: rename the file or re-type the value)")
                sys.exit(EXIT_BAD_INPUT)
        with Interrupts() as interrupts:
            try:
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            except click.UsageError as exc:
                interrupts.leaving()
                say(f"archc: error: {_usage_line(exc)}")
                code = EXIT_BAD_INPUT
            except click.ClickException as exc:
                interrupts.leaving()
                say("archc: error: " + " ".join(exc.format_message().split()))
                code = exc.exit_code
            except (click.Abort, KeyboardInterrupt):  # Ctrl-C outside a command (parsing, help, imports)
                interrupts.leaving()
                report_interrupt(say)
                code = EXIT_INTERRUPTED
            except SystemExit as exc:
                interrupts.leaving()
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_RUNTIME)
            interrupts.leaving()
            code = EXIT_INTERRUPTED if interrupts.hit else (code if isinstance(code, int) else EXIT_OK)
            if interrupts.hit:  # also a Ctrl-C that a library swallowed, or one that came while leaving
                report_interrupt(say)
        sys.exit(code)

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        say = _say_once_per_job()
        try:
            return super().invoke(ctx)
        except ArchcError as exc:
            if debug:
                raise
            say(f"archc: error: {exc.format()}")
            ctx.exit(exc.exit_code)
        except BrokenPipeError:  # `archc list | head`: the reader left; say nothing more
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(EXIT_RUNTIME)
        except KeyboardInterrupt:
            from archc.interrupts import report_interrupt

            if debug:
                raise
            report_interrupt(say)
            ctx.exit(130)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except MemoryError:
            if debug:
                raise
            say("archc: error: out of memory")
            ctx.exit(EXIT_RUNTIME)
        except OSError as exc:  # a file or folder the system refused: name it, no traceback
            if debug:
                raise
            where = f": {exc.filename}" if exc.filename else ""
            say(f"archc: error: {exc.strerror or exc}{where}")
            ctx.exit(EXIT_RUNTIME)
        except Exception as exc:  # noqa: BLE001 - the CLI promises no traceback
            from archc.interrupts import interrupted, report_interrupt

            if debug:
                raise
            if interrupted():  # a library swallowed the Ctrl-C and failed after it (e.g. half-imported numpy)
                report_interrupt(say)
                ctx.exit(130)
            say(f"archc: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
            ctx.exit(EXIT_RUNTIME)


def _module_file_exists(module: str) -> bool:
    """Whether archc's module `module` is installed, without importing it (or its package)."""
    parts = module.split(".")
    base = Path(__file__).resolve().parent.joinpath(*parts[1:])
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _usage_line(exc: click.UsageError) -> str:
    """click's four-line usage error as one line: what is wrong, and where to read the usage."""
    message = " ".join(exc.format_message().split())
    if exc.ctx is None:
        return message
    return f"{exc.ctx.command_path}: {message} (see '{exc.ctx.command_path} --help')"


def _say_once_per_job() -> Any:
    """stderr printer; under torchrun only rank 0 speaks (every rank meets the same error)."""
    import os

    quiet = int(os.environ.get("WORLD_SIZE", "1")) > 1 and os.environ.get("RANK", "0") != "0"
    return (lambda text: None) if quiet else (lambda text: click.echo(text, err=True))


@click.group(cls=ArchcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="archc")
def main(debug: bool) -> None:
    """archc: compile, draw and analyse CNN architecture specs (plain, residual, inception, dense)."""


def debug_enabled() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug"))


set_option = click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                          help="Override a spec value (repeatable), e.g. --set classes=10 --set vars.n=5.")


def load_model(spec_arg: str, overrides: tuple = ()):  # -> archc.ir.graph.Model
    import archc

    return archc.lower(archc.load(resolve_spec_arg(spec_arg), overrides))


@main.command()
@click.argument("specs", nargs=-1, required=True)
@set_option
def validate(specs: tuple, overrides: tuple) -> None:
    """Validate specs (parse, check, infer every shape) without importing torch."""
    failed = 0
    for spec_arg in specs:
        try:
            model = load_model(spec_arg, overrides)
        except ArchcError as exc:
            if debug_enabled():
                raise
            failed += 1
            click.echo(f"archc: error: {exc.format()}", err=True)
            continue
        cost = model.cost
        from archc.formats import format_macs

        click.echo(f"ok  {spec_arg}  {model.name}  {cost.params:,} params  {format_macs(cost.macs)}")
    if failed:
        click.echo(f"{failed} of {len(specs)} spec(s) invalid", err=True)
        sys.exit(EXIT_BAD_INPUT)


@main.command("list")
def list_specs() -> None:
    """The bundled specs: name, title, params."""
    import archc

    root = bundled_specs_dir()
    paths = bundled_specs()
    width = max([22] + [len(str(p.relative_to(root).with_suffix(""))) for p in paths])  # the names in one column
    for path in paths:
        rel = path.relative_to(root).with_suffix("")
        try:
            model = archc.lower(archc.load(path))
            click.echo(f"{str(rel):<{width}} {model.title:<46} {model.cost.params / 1e6:8.2f}M params")
        except ArchcError as exc:
            click.echo(f"{str(rel):<{width}} INVALID: {exc.format()}")


@main.command()
def schema() -> None:
    """Print the JSON Schema of the spec format (for editors)."""
    from archc.io import to_json
    from archc.spec.validate import json_schema

    click.echo(to_json(json_schema()), nl=False)


@main.command()
@click.argument("spec")
@set_option
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default build/<name>/).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for weight initialisation.")
@click.option("--no-diagram", is_flag=True, help="Skip the stage-level diagram.")
@click.option("--check/--no-check", default=False, show_default=True,
              help="Also run a forward pass on a zero batch and compare its shape with the IR's.")
def build(spec: str, overrides: tuple, out_dir: Optional[str], seed: int, no_diagram: bool, check: bool) -> None:
    """Validate, compile to torch, print the summary, write source + summary.json (+ diagram)."""
    from archc.build import build_outputs, output_folder, output_names

    started = time.perf_counter()
    model = load_model(spec, overrides)
    folder = output_folder(model, Path(out_dir) if out_dir else Path("build") / model.name)
    folder.check(output_names(model, not no_diagram))  # before any work: writable, no one else's file in the way
    written = build_outputs(model, folder, seed=seed, diagram=not no_diagram, check=check, echo=click.echo)
    click.echo("wrote " + ", ".join(str(p) for p in written) + f"  ({time.perf_counter() - started:.1f}s)")


# Commands of the other areas, imported only when used (so `archc --help` and `archc validate` stay
# light): name -> (module, attribute, one-line help for `archc --help`).
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "diagram": ("archc.render.cli", "diagram", "Draw SPEC with Graphviz, straight from the spec (no model is run)."),
    "figures": ("archc.render.cli", "figures", "Regenerate the lecture figures (all 11 of the GoogLeNet/ResNet "
                "lecture, plus a few) into reports/figures/, with index.md mapping each lecture figure to its "
                "files and command."),
    "analyze": ("archc.analysis.cli", "analyze", "Analyse specs: complexity, bottleneck savings, paths; opt-in: "
                "fvcore cross-check, init propagation."),
    "compare": ("archc.analysis.cli", "compare", "Two specs side by side, per stage: output shape, params, MACs; "
                "totals and paths."),
    "probe": ("archc.probe.cli", "probe", "Train each SPEC briefly and record how its gradients flow, and its\n"
              "training and test error."),
    "serve": ("archc.serve.cli", "serve", "Start the local web playground: edit a spec, see its diagram, costs and "
              "paths live."),
}
