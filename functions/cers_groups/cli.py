"""The ``cers-groups`` command line. Thin: the rules live in ``roster``, the normalizer in
``normalize``, splitting in ``roster_parts`` and the report formats in ``roster_report``."""

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from cers_groups.roster import RosterReport, validate_roster
from cers_groups.roster_report import (
    iter_report_json,
    render_text,
    write_csv_header,
    write_problems_csv,
)
from cers_groups.tenants import RuleSettings

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
# Files smaller than this are checked in well under a second: no progress bar.
PROGRESS_MIN_BYTES = 16 * 1024 * 1024

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Check SIS roster exports and keep CERS student groups up to date.",
)

_FILES = typer.Argument(
    exists=True, dir_okay=False, readable=True, metavar="FILE", help="Roster CSV files."
)
_CONFIG = typer.Option(
    "--config",
    exists=True,
    dir_okay=False,
    readable=True,
    help="JSON file with the district's rule settings (the 'rules' object of a district in "
    'the tenants file), e.g. {"school_years": [2027, 2028], "ssid_check": "error"}.',
)


@app.callback()
def _cers_groups() -> None:
    """Check SIS roster exports and keep CERS student groups up to date."""


@app.command()
def validate(
    files: Annotated[list[Path], _FILES],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per file (a list for several).")
    ] = False,
    config: Annotated[Path | None, _CONFIG] = None,
    csv_path: Annotated[
        Path | None,
        typer.Option("--csv", dir_okay=False, help="Also write every problem to this CSV file."),
    ] = None,
) -> None:
    """Check roster CSVs against the CERS student-group rules without sending anything.

    Exit status: 0 when every file is valid, 1 when any is invalid, 2 on a usage or read error.
    """
    settings = load_settings(config)
    results: list[tuple[Path, RosterReport]] = []
    unreadable = False
    for path in files:
        try:
            results.append((path, _validate_file(path, settings)))
        except OSError as error:
            typer.echo(f"{path}: cannot be read ({error.strerror or error})", err=True)
            unreadable = True

    if as_json:
        _print_json(results, as_list=len(files) > 1)
    else:
        for path, report in results:
            typer.echo("\n".join(render_text(report, str(path))))
    if csv_path is not None:
        _write_csv(csv_path, results)

    if unreadable:
        raise typer.Exit(EXIT_USAGE)
    if not all(report.valid for _, report in results):
        raise typer.Exit(EXIT_INVALID)


def load_settings(config: Path | None) -> RuleSettings:
    """The rule settings from a JSON file; a broken file ends the command with exit 2."""
    if config is None:
        return RuleSettings()
    try:
        return RuleSettings.model_validate_json(config.read_text(encoding="utf-8"))
    except OSError as error:
        _usage_error(f"{config}: cannot be read ({error.strerror or error})")
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'file'}: {item['msg']}"
            for item in error.errors()
        )
        _usage_error(f"{config}: not valid rule settings: {problems}")


def _usage_error(message: str):
    typer.echo(message, err=True)
    raise typer.Exit(EXIT_USAGE)


def _validate_file(path: Path, settings: RuleSettings) -> RosterReport:
    with path.open("rb") as stream, progress_bar(path, "Checking") as advance:
        return validate_roster(stream, settings, name=path.name, progress=advance)


@contextmanager
def progress_bar(path: Path, verb: str) -> Iterator[Callable[[int], None] | None]:
    """A progress callback (bytes done) drawing a bar on a terminal, for big files only."""
    size = path.stat().st_size
    if size < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        yield None
        return

    columns = (
        TextColumn(f"{verb} {path.name}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(verb, total=size)
        yield lambda done: progress.update(task, completed=done)


def _print_json(results: list[tuple[Path, RosterReport]], as_list: bool) -> None:
    """One object for one file, a list for several (even if some could not be read)."""
    if not as_list and not results:
        return
    if as_list:
        typer.echo("[", nl=False)
    for position, (path, report) in enumerate(results):
        if position:
            typer.echo(",\n", nl=False)
        for piece in iter_report_json(report, str(path)):
            typer.echo(piece, nl=False)
    typer.echo("]" if as_list else "")


def _write_csv(csv_path: Path, results: list[tuple[Path, RosterReport]]) -> None:
    try:
        with csv_path.open("w", encoding="utf-8", newline="") as out:
            write_csv_header(out)
            for path, report in results:
                write_problems_csv(report, out, str(path))
    except OSError as error:
        _usage_error(f"{csv_path}: cannot be written ({error.strerror or error})")


def main() -> None:
    """Entry point of the ``cers-groups`` console script."""
    app()


def _print(document: object) -> None:
    typer.echo(json.dumps(document, indent=2))
