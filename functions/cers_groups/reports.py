"""Per-submission reports in the bucket, under ``reports/<submission id>/``.

- ``validation.json``: what validation found (every listed problem) and, once anything more has
  happened, the submission's status, history and CERS's answer. Machines read this one.
- ``problems.csv``: one line per listed problem, for a spreadsheet.
- ``report.html``: one self-contained page for people (see ``cers_groups.report_page``).

The JSON report and the page are written again whenever the submission's status changes. Problem
messages never quote a value from the file; the CERS answer is kept whole here (it may quote
values), because reports live only in the encrypted bucket, next to the roster itself.
"""

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cers_groups import storage
from cers_groups.report_page import render_report_page
from cers_groups.resources import REPORTS_PREFIX

CSV_COLUMNS = ("severity", "rule", "row", "message")
# validation.json lists the first this many problems of each rule (and changes of each kind);
# its counts cover them all and problems.csv lists every one. The report is read back whole
# whenever the status changes, so it must stay small however big the roster.
LISTED_PER_RULE = 1_000

# Item fields copied into the report whenever it is written again.
SUBMISSION_FIELDS = (
    "submission_id",
    "district",
    "bucket",
    "version_id",
    "dropped_at",
    "status",
    "updated_at",
    "history",
    "failure",
    "reason",
    "problem_count",
    "rule_counts",
    "changes",
)
CERS_FIELDS = {
    "cers_import_id": "import_id",
    "cers_status": "status",
    "cers_digest": "digest",
    "cers_message": "message",
}


@dataclass(frozen=True)
class ReportKeys:
    json: str
    csv: str
    page: str


def report_keys(submission_id: str) -> ReportKeys:
    folder = f"{REPORTS_PREFIX}{submission_id}/"
    return ReportKeys(
        json=f"{folder}validation.json", csv=f"{folder}problems.csv", page=f"{folder}report.html"
    )


def write_validation_reports(bucket: str, submission_id: str, document: dict[str, Any]) -> str:
    """Store what validation found: the JSON report and the CSV of problems; the JSON key."""
    keys = report_keys(submission_id)
    document = {**document, "submission_id": submission_id}
    document.setdefault("warnings", [])
    storage.put_text(bucket, keys.csv, problems_csv(document), "text/csv")
    storage.put_report(bucket, keys.json, document)
    return keys.json


def refresh_report(bucket: str, submission: dict[str, Any]) -> str:
    """Bring the JSON report and the page up to the submission's recorded state; the page key.

    Nothing is written when the report already shows this state (a repeated run). The page is
    written before the JSON report, which marks the state as shown.
    """
    keys = report_keys(submission["submission_id"])
    document = storage.get_report(bucket, keys.json) or unvalidated_document(submission)
    if _shows(document, submission):
        return keys.page
    document = with_submission(document, submission)
    storage.put_text(bucket, keys.page, render_report_page(document), "text/html")
    storage.put_report(bucket, keys.json, document)
    return keys.page


def problems_csv(document: dict[str, Any]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for severity, problems in (("error", document["errors"]), ("warning", document["warnings"])):
        for problem in problems:
            row = "" if problem.get("row") is None else problem["row"]
            writer.writerow((severity, problem["rule"], row, problem["message"]))
    return text.getvalue()


def unvalidated_document(submission: dict[str, Any]) -> dict[str, Any]:
    """The report of a file that was never validated (dropped outside every district's folder,
    or gone before it could be read)."""
    return {
        "file": submission["key"],
        "version_id": submission.get("version_id"),
        "valid": None,
        "rows": None,
        "size": _plain(submission.get("size")),
        "digest": None,
        "errors": [],
        "warnings": [],
    }


def with_submission(document: dict[str, Any], submission: dict[str, Any]) -> dict[str, Any]:
    """The report with the submission's current state: status, history, CERS's answer."""
    updated = {**document}
    for name in SUBMISSION_FIELDS:
        if submission.get(name) is not None:
            updated[name] = _plain(submission[name])
    cers = {
        name: _plain(submission[field])
        for field, name in CERS_FIELDS.items()
        if submission.get(field) is not None
    }
    updated["cers"] = cers or None
    return updated


def _shows(document: dict[str, Any], submission: dict[str, Any]) -> bool:
    return (
        document.get("status") == submission["status"]
        and document.get("updated_at") == submission["updated_at"]
    )


def _plain(value: Any) -> Any:
    """DynamoDB's numbers (Decimal) as int or float, so the report is plain JSON."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
