"""The ``cers-groups`` command line. Thin: every roster rule lives in ``cers_groups.roster``."""

import json
from pathlib import Path
from typing import Annotated

import typer

from cers_groups.auth_cli import verify_auth
from cers_groups.roster import Problem, RosterReport, validate_roster

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Check SIS roster exports and keep CERS student groups up to date.",
)


@app.callback()
def _cers_groups() -> None:
    """Check SIS roster exports and keep CERS student groups up to date."""


app.command("verify-auth")(verify_auth)


@app.command()
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            metavar="FILE",
            help="Roster CSV files to check.",
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per file.")
    ] = False,
) -> None:
    """Check roster CSVs against the CERS student-group rules without sending anything.

    Exit status: 0 when every file is valid, 1 when any is invalid, 2 when a file cannot be read.
    """
    results: list[tuple[Path, RosterReport]] = []
    unreadable = False
    for path in files:
        try:
            results.append((path, _validate_file(path)))
        except OSError as error:
            typer.echo(f"{path}: cannot be read ({error.strerror or error})", err=True)
            unreadable = True

    if as_json:
        _print_json(results, as_list=len(files) > 1)
    else:
        for path, report in results:
            _print_plain(path, report)

    if unreadable:
        raise typer.Exit(EXIT_USAGE)
    if not all(report.valid for _, report in results):
        raise typer.Exit(EXIT_INVALID)


def _validate_file(path: Path) -> RosterReport:
    with path.open("rb") as stream:
        return validate_roster(stream)


def _print_plain(path: Path, report: RosterReport) -> None:
    counts = f"{report.rows} rows, {report.schools} schools, {report.groups} groups"
    if report.valid:
        typer.echo(f"{path}: valid ({counts})")
        return

    typer.echo(f"{path}: INVALID, {len(report.problems)} problems ({counts})")
    for problem in report.problems:
        row = "-" if problem.row is None else problem.row
        typer.echo(f"row {row}  {problem.rule}  {problem.message}")


def _print_json(results: list[tuple[Path, RosterReport]], as_list: bool) -> None:
    """Prints one object for one file, a list for several (even if some could not be read)."""
    documents = [_as_document(path, report) for path, report in results]
    if not as_list and not documents:
        return

    payload = documents if as_list else documents[0]
    typer.echo(json.dumps(payload, indent=2))


def _as_document(path: Path, report: RosterReport) -> dict[str, object]:
    return {
        "file": str(path),
        "valid": report.valid,
        "rows": report.rows,
        "digest": report.digest,
        "errors": [_as_error(problem) for problem in report.problems],
        "warnings": [],
    }


def _as_error(problem: Problem) -> dict[str, object]:
    return {"rule": problem.rule, "row": problem.row, "message": problem.message}


def main() -> None:
    """Entry point of the ``cers-groups`` console script."""
    app()
