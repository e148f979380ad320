"""``nlx models``: the registered model names."""

from __future__ import annotations

import typer

from nlx.cli.output import Format, print_json, print_table


def models(fmt: Format = typer.Option(Format.table, "--format", help="table or json")) -> None:
    """List the registered models (names for [cyan]model.name[/cyan])."""
    from nlx.models import list_models, model_doc

    rows = [{"name": name, "description": model_doc(name)} for name in list_models()]
    if fmt is Format.json:
        print_json(rows)
    else:
        print_table("models", ["name", "description"], [[r["name"], r["description"]] for r in rows])


def register(app: typer.Typer) -> None:
    app.command("models")(models)
