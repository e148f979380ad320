"""The ``nlx`` command line: a thin typer app; every command parses its arguments and calls the library."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.markup import escape

from nlx import __version__
from nlx.cli.output import console
from nlx.errors import NlxError

app = typer.Typer(
    name="nlx",
    help="Reproduce and extend the ablations of [bold]Non-local Neural Networks[/bold] (CVPR 2018).",
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nlx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """nlx: models, training, sweeps and reports for the paper's Table 2."""


# Each command group lives in its own module with a ``register(app)`` function.
COMMAND_MODULES = ("models", "profile", "data", "train", "eval", "report", "sweep", "bench", "visualize")


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"nlx.cli.{name}").register(app)


_register()


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2 (typer exits 2 on usage errors)."""
    try:
        app()
    except NlxError as err:
        console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        sys.exit(2)
