"""The ``cers-groups`` command line. Thin: the rules live in ``roster``, the normalizer in
``normalize``, splitting in ``roster_parts`` and the report formats in ``roster_report``."""

import csv
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from cers_groups import ops_cli
from cers_groups.auth_cli import verify_auth
from cers_groups.normalize import CHANGES, NormalizeResult, normalize_roster
from cers_groups.roster import RosterReport, validate_roster
from cers_groups.roster_parts import split_roster
from cers_groups.roster_report import (
    iter_report_json,
    render_text,
    write_csv_header,
    write_problems_csv,
)
from cers_groups.roster_rules import SIZE_RULES, Severity
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

_FILE = typer.Argument(
    exists=True, dir_okay=False, readable=True, metavar="FILE", help="Roster CSV file."
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


app.command("verify-auth")(verify_auth)


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
def progress_bar(path: Path, verb: str, passes: int = 1) -> Iterator[Callable[[int], None] | None]:
    """A progress callback (bytes done) drawing a bar on a terminal, for big files only."""
    size = path.stat().st_size * passes
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


@app.command()
def fix(
    file: Annotated[Path, _FILE],
    output: Annotated[
        Path, typer.Option("--output", "-o", dir_okay=False, help="Where to write the result.")
    ],
    config: Annotated[Path | None, _CONFIG] = None,
    changes_path: Annotated[
        Path | None,
        typer.Option("--changes", dir_okay=False, help="Also write every change to this CSV."),
    ] = None,
) -> None:
    """Normalize a roster (what needs no guessing), then check the result.

    Strips a BOM, converts Windows-1252 to UTF-8, writes the header as CERS documents it and
    CRLF line endings, trims values, drops blank rows and rows that repeat a group's members,
    repeats a group's subject on every row, and puts each school's and group's rows together.
    It never changes a value. Rows in its messages are rows of FILE.

    Exit status: 0 when the result is valid, 1 when problems remain (or FILE cannot be
    normalized), 2 on a usage or read error.
    """
    settings = load_settings(config)
    temporary = output.with_name(f".{output.name}.partial")
    try:
        with temporary.open("wb") as out, progress_bar(file, "Fixing", passes=2) as advance:
            result = normalize_roster(lambda: file.open("rb"), out, progress=advance)
        if result.refused:
            temporary.unlink()
            typer.echo(f"{file}: {result.refusal}")
            raise typer.Exit(EXIT_INVALID)
        temporary.replace(output)
        report = _validate_file(output, settings)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        _usage_error(f"cannot fix {file}: {error.strerror or error}")

    typer.echo("\n".join(_change_lines(file, output, result)))
    typer.echo("\n".join(render_text(report, str(output), result.row_map)))
    if changes_path is not None:
        _write_changes(changes_path, file, result)
    if not report.valid:
        raise typer.Exit(EXIT_INVALID)


@app.command()
def split(
    file: Annotated[Path, _FILE],
    out_dir: Annotated[
        Path, typer.Option("--out-dir", file_okay=False, help="Folder for the parts.")
    ],
    config: Annotated[Path | None, _CONFIG] = None,
    rows: Annotated[
        int | None,
        typer.Option("--rows", min=1, help="Most rows per part (default: the row_limit setting)."),
    ] = None,
) -> None:
    """Split a roster that is too big for one upload into parts, at school boundaries.

    The roster must pass every other rule first (run 'fix' if its schools are not together).
    Parts are named <name>-part-NNN.csv; send them in order.

    Exit status: 0 when parts were written (or none were needed), 1 when the file cannot be
    split, 2 on a usage or read error.
    """
    settings = load_settings(config)
    limit = rows or settings.row_limit
    settings = settings.model_copy(update={"row_limit": limit})
    report = _validate_file(file, settings)
    blocking = report.broken_rules(Severity.ERROR) - SIZE_RULES
    if blocking:
        typer.echo("\n".join(render_text(report, str(file))))
        typer.echo(f"{file}: fix the problems above before splitting (see 'cers-groups fix').")
        raise typer.Exit(EXIT_INVALID)
    if report.valid:
        typer.echo(f"{file}: {report.rows:,} rows fit in one upload; nothing written.")
        return

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = file.name.rsplit(".", 1)[0]
    result = split_roster(
        lambda: file.open("rb"),
        lambda number: (out_dir / f"{stem}-part-{number:03d}.csv").open("wb"),
        row_limit=limit,
    )
    if result.school_too_big is not None:
        typer.echo(
            f"{file}: the school starting at row {result.school_too_big} has "
            f"{result.school_rows:,} rows, more than {limit:,}: it cannot be split at school "
            "boundaries. Send its groups in several files."
        )
        raise typer.Exit(EXIT_INVALID)
    for part in result.parts:
        typer.echo(
            f"{out_dir / f'{stem}-part-{part.number:03d}.csv'}: {part.rows:,} rows from row "
            f"{part.first_row:,}, digest {part.digest}"
        )


def _change_lines(file: Path, output: Path, result: NormalizeResult) -> list[str]:
    if not result.changes.count:
        return [f"{file}: nothing to change; copied to {output}"]
    lines = [f"{file}: {result.changes.count:,} changes, written to {output}"]
    for summary in result.changes.summary.values():
        rows = ", ".join("-" if row is None else str(row) for row in summary.first_rows)
        more = ", ..." if summary.count > len(summary.first_rows) else ""
        noun = "row" if summary.count == 1 else "rows"
        where = "whole file" if summary.first_rows == [None] else f"{noun} {rows}{more}"
        lines.append(f"  {summary.kind}: {summary.count:,} ({where})  {summary.message}")
    return lines


def _write_changes(path: Path, file: Path, result: NormalizeResult) -> None:
    try:
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(("file", "row", "change", "message"))
            for kind, row in result.changes:
                writer.writerow((file, "" if row is None else row, kind, CHANGES[kind]))
    except OSError as error:
        _usage_error(f"{path}: cannot be written ({error.strerror or error})")


ops_cli.register(app)


def main() -> None:
    """Entry point of the ``cers-groups`` console script."""
    app()
