"""The `corral` command: wires verbs to the library; the only place errors are caught."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from corral.check import check_files
from corral.errors import CorralError
from corral.models import served_models
from corral.values import load, merge

VALUES = click.argument(
    "values", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
OUTPUT = click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Compose, check and inspect Corral stacks."""


@cli.command("check")
@VALUES
@click.option("--release", default="llm", show_default=True, help="Release name (object names).")
@OUTPUT
def check_command(values: tuple[Path, ...], release: str, output: str) -> None:
    """Check VALUES files (merged in order) against the chart's schema and rules."""
    problems = check_files(values, release)
    if output == "json":
        click.echo(json.dumps({"ok": not problems, "problems": problems}))
    else:
        for line in problems:
            click.echo(line)
        if not problems:
            click.echo(f"ok: {', '.join(str(v) for v in values)}")
    sys.exit(1 if problems else 0)


@cli.command("models")
@VALUES
@OUTPUT
def models_command(values: tuple[Path, ...], output: str) -> None:
    """List the served names and aliases of VALUES files."""
    models = served_models(merge(*(load(v) for v in values)))
    if output == "json":
        click.echo(json.dumps([dataclasses.asdict(m) for m in models]))
        return
    for m in models:
        aliases = f"  aliases: {', '.join(m.aliases)}" if m.aliases else ""
        click.echo(f"{m.served_name}  group: {m.group}  engine: {m.engine}{aliases}")


def main() -> None:
    """Run the CLI: user mistakes print `corral: error: …` and exit 2, never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as err:
        click.echo(f"corral: error: {err.format_message()}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except CorralError as err:
        click.echo(f"corral: error: {err}", err=True)
        sys.exit(2)
