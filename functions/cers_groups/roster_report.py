"""Roster reports for people and machines: JSON, a CSV of problems and a plain-text summary.

Shared by the CLI and the pipeline. Every renderer streams the problems from the report's
spool, so a report with a million problems is written without holding them in memory.

When the file that was validated is a normalized copy, ``row_map`` turns a row of that copy
into the row of the file the district dropped: reports then give ``row`` in the district's
file and ``normalized_row`` in the copy that is sent.
"""

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

from cers_groups.roster import RosterReport
from cers_groups.roster_rules import RULES, Problem, Severity

RowMap = Callable[[int], int]
SUMMARY_ROWS_SHOWN = 10
CSV_COLUMNS = ("file", "row", "severity", "rule", "source", "message")


def problem_item(problem: Problem, row_map: RowMap | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"rule": problem.rule, "row": problem.row, "message": problem.message}
    if row_map is not None and problem.row is not None:
        item["row"] = row_map(problem.row)
        item["normalized_row"] = problem.row
    return item


def summary_items(report: RosterReport, row_map: RowMap | None = None) -> list[dict[str, Any]]:
    """One entry per rule broken: severity, sources, count, first rows and first message."""
    items = []
    for summary in report.summary.values():
        rule = RULES[summary.rule]
        items.append(
            {
                "rule": summary.rule,
                "severity": summary.severity.value,
                "sources": [source.value for source in rule.sources],
                "source": rule.source_label,
                "count": summary.count,
                "first_rows": [_mapped(row, row_map) for row in summary.first_rows],
                "message": report.summary_message(summary.rule),
            }
        )
    return items


def report_header(
    report: RosterReport, file: str, extra: dict[str, Any] | None = None, row_map=None
) -> dict[str, Any]:
    """Everything in the JSON report except the problem lists; bounded in size."""
    return {
        "file": file,
        "valid": report.valid,
        "rows": report.rows,
        "digest": report.digest,
        "size": report.size,
        "schools": report.schools,
        "groups": report.groups,
        "error_count": report.error_count,
        "warning_count": report.warning_count,
        "summary": summary_items(report, row_map),
        **(extra or {}),
    }


def report_document(
    report: RosterReport, file: str, extra: dict[str, Any] | None = None, row_map=None
) -> dict[str, Any]:
    """The whole JSON report as a dict: for small reports and tests."""
    return json.loads("".join(iter_report_json(report, file, extra, row_map)))


def iter_report_json(
    report: RosterReport,
    file: str,
    extra: dict[str, Any] | None = None,
    row_map: RowMap | None = None,
    lists: dict[str, Iterable[Any]] | None = None,
    listed_per_rule: int | None = None,
) -> Iterator[str]:
    """The JSON report, piece by piece: ``{"file", "valid", ..., "errors", "warnings"}``.

    ``lists`` are further arrays written after the problems, item by item (a change log).
    ``listed_per_rule`` keeps the report small: the problems lists hold at most that many of
    each rule, and the further arrays that many items of each kind (``change``), the first
    ones; the counts still cover all of them. None lists everything.
    """
    report.problems.row_map = row_map
    header = report_header(report, file, extra, row_map)
    if listed_per_rule is not None:
        header["listed_per_rule"] = listed_per_rule
    yield json.dumps(header)[:-1]
    errors = (problem_item(problem, row_map) for problem in report.errors())
    warnings = (problem_item(problem, row_map) for problem in report.warnings())
    arrays = {"errors": errors, "warnings": warnings, **(lists or {})}
    for name, items in arrays.items():
        if listed_per_rule is not None:
            items = _first_of_each(items, listed_per_rule)
        yield f', "{name}": ['
        for position, item in enumerate(items):
            yield (", " if position else "") + json.dumps(item)
        yield "]"
    yield "}"


def _first_of_each(items: Iterable[dict[str, Any]], limit: int) -> Iterator[dict[str, Any]]:
    """The first ``limit`` items of each rule (or change kind), in their order."""
    seen: dict[str, int] = {}
    for item in items:
        kind = item.get("rule") or item.get("change") or ""
        seen[kind] = seen.get(kind, 0) + 1
        if seen[kind] <= limit:
            yield item


def problem_fields(report: RosterReport, kept: int, row_map=None) -> dict[str, Any]:
    """Bounded fields for the submission item: counts per rule and the first problems.

    ``problems`` holds the first ``kept`` errors, then warnings if room is left.
    """
    report.problems.row_map = row_map
    first: list[dict[str, Any]] = []
    for problems in (report.errors(), report.warnings()):
        for problem in problems:
            if len(first) == kept:
                break
            first.append(problem_item(problem, row_map))
    return {
        "problem_count": report.error_count + report.warning_count,
        "error_count": report.error_count,
        "warning_count": report.warning_count,
        "rule_counts": report.rule_counts,
        "problems": first,
    }


def write_problems_csv(
    report: RosterReport, out: TextIO, file: str, row_map: RowMap | None = None
) -> None:
    """Every problem as a CSV row (header written by ``write_csv_header``)."""
    report.problems.row_map = row_map
    writer = csv.writer(out, lineterminator="\r\n")
    for problem in report.problems:
        row = problem.row if row_map is None or problem.row is None else row_map(problem.row)
        writer.writerow(
            (
                file,
                "" if row is None else row,
                problem.severity.value,
                problem.rule,
                RULES[problem.rule].source_label,
                problem.message,
            )
        )


def write_csv_header(out: TextIO) -> None:
    csv.writer(out, lineterminator="\r\n").writerow(CSV_COLUMNS)


def render_text(report: RosterReport, file: str, row_map: RowMap | None = None) -> list[str]:
    """A plain-text summary: the verdict, then each rule broken with its count and rows."""
    report.problems.row_map = row_map
    counts = f"{report.rows:,} rows, {report.schools:,} schools, {report.groups:,} groups"
    if not report.summary:
        return [f"{file}: valid ({counts})"]

    verdict = "valid" if report.valid else "INVALID"
    lines = [
        f"{file}: {verdict}: {_plural(report.error_count, 'error')}, "
        f"{_plural(report.warning_count, 'warning')} ({counts})"
    ]
    for item in sorted(summary_items(report, row_map), key=_errors_first):
        lines.append(
            f"  {item['severity']:<8} {item['rule']}: {_plural(item['count'], 'time')}, "
            f"{_rows_text(item['first_rows'], item['count'])}  [{item['source']}]"
        )
        lines.append(f"           {item['message']}")
    return lines


class TextChunks(io.RawIOBase):
    """A readable binary stream over pieces of text (UTF-8), for streaming uploads."""

    def __init__(self, pieces: Iterable[str]) -> None:
        super().__init__()
        self._pieces = iter(pieces)
        # Grows at its end and is consumed from its start, both in amortized constant time:
        # boto3 asks for 8 MB at a time, and a report comes in pieces of a line or so.
        self._buffer = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:
        while len(self._buffer) < len(buffer):
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._buffer += piece.encode()
        size = min(len(buffer), len(self._buffer))
        buffer[:size] = self._buffer[:size]
        del self._buffer[:size]
        return size


def _mapped(row: int | None, row_map: RowMap | None) -> int | None:
    return row if row is None or row_map is None else row_map(row)


def _errors_first(item: dict[str, Any]) -> int:
    return 0 if item["severity"] == Severity.ERROR.value else 1


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _rows_text(rows: list[int | None], count: int) -> str:
    if rows == [None]:
        return "whole file"
    shown = ", ".join("-" if row is None else str(row) for row in rows[:SUMMARY_ROWS_SHOWN])
    more = ", ..." if count > len(rows[:SUMMARY_ROWS_SHOWN]) else ""
    return f"{'row' if count == 1 else 'rows'} {shown}{more}"
