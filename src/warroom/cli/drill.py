"""``warroom drill``: a tabletop exercise on a throwaway database (the script is
:mod:`warroom.cli.drill_script`, loaded only when the drill runs)."""

from __future__ import annotations

import typer


def drill(
    keep: bool = typer.Option(
        False, "--keep", help="Keep the drill's database and print where it is."
    ),
) -> None:
    """Run a tabletop exercise: a SEV1 from detection to post-mortem, on a throwaway database."""
    from warroom.cli.drill_script import run_drill

    run_drill(keep)


def register(app: typer.Typer) -> None:
    app.command("drill")(drill)
