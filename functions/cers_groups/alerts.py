"""Alert e-mails for district IT: what happened, what to do next, where the details are.

An alert names the district, the file, the rules broken and the row numbers. It never carries a
value from a roster row: problem messages are written without values, and the text CERS sends
back has the values it quotes (schools, groups, years, subjects) blanked out.
"""

import re
from dataclasses import dataclass
from typing import Any

import boto3

from cers_groups.events import file_name
from cers_groups.resources import ALERT_DISTRICT_ATTRIBUTE
from cers_groups.submissions import PROBLEMS_KEPT, Status

SUBJECT_LIMIT = 100  # SNS rejects longer e-mail subjects.

NEXT_STEPS = {
    Status.REJECTED: (
        "The file was not read or sent. Have the SIS export write into the district's own"
        " folder, incoming/<district id>/, or add the district to the tenants file."
    ),
    Status.INVALID: (
        "Nothing was sent to CERS. Correct the rows listed above in the SIS export (or the file),"
        " then drop the corrected file in the same folder again."
    ),
    Status.BAD_DATA: (
        "CERS received the file and rejected all of it; no group was changed. Correct the rows"
        " CERS names above and drop the corrected file again."
    ),
    Status.AUTH_FAILED: (
        "The file was not sent. Fix the CERS credential as described above, then drop the file"
        " again. Repeated failed sign-ins can lock the account, so fix the credential first."
    ),
    Status.UPLOAD_FAILED: (
        "The file was not delivered to CERS. If CERS is down, wait for it to recover, then drop"
        " the file again."
    ),
    Status.OUTCOME_UNKNOWN: (
        "CERS may or may not have applied the file (see above). Check the CERS group import"
        " history for the batch or import named above before sending the file again."
    ),
    Status.PERMISSION_DENIED: (
        "The file was not applied. Ask the LEA CAASPP coordinator to give the CERS login group"
        " administration (group write) in TOMS, then drop the file again."
    ),
    Status.STUCK: (
        "Nothing to send again yet: CERS may still finish the file, and this submission is still"
        " followed. If it stays unfinished, ask CERS support about the import named above."
    ),
    Status.ERROR: (
        "The file is kept in the bucket. Operators: look up the submission id in the functions'"
        " logs, fix the cause, then drop the file again."
    ),
}

HEADLINES = {
    Status.REJECTED: "was dropped outside every district's folder",
    Status.INVALID: "failed validation",
    Status.BAD_DATA: "was rejected by CERS",
    Status.AUTH_FAILED: "could not be sent: CERS sign-in failed",
    Status.UPLOAD_FAILED: "could not be delivered to CERS",
    Status.OUTCOME_UNKNOWN: "has an unknown outcome at CERS",
    Status.PERMISSION_DENIED: "could not be sent: the CERS login may not write groups",
    Status.STUCK: "is still unfinished at CERS",
    Status.ERROR: "could not be processed",
}

_BRACKETED = re.compile(r"\[[^\]]*\]")
_QUOTED_VALUE = re.compile(r"(Invalid (?:school year|subject)): .*$")


@dataclass(frozen=True)
class Alert:
    subject: str
    body: str


def compose_alert(submission: dict[str, Any], bucket: str) -> Alert:
    status = Status(submission["status"])
    subject = f"CERS groups [{submission['district']}] {file_name(submission['key'])}"
    subject += f" {HEADLINES[status]}"
    sections = [
        f"The roster file s3://{bucket}/{submission['key']} {HEADLINES[status]}.",
        _details(status, submission),
        f"What to do: {NEXT_STEPS[status]}",
        _references(submission, bucket),
    ]
    return Alert(subject=_fit_subject(subject), body="\n\n".join(s for s in sections if s))


def publish_alert(topic_arn: str, alert: Alert, audience: str) -> str:
    """Publish to the alert topic; ``audience`` (a district id) picks the e-mail subscribers."""
    response = boto3.client("sns").publish(
        TopicArn=topic_arn,
        Subject=alert.subject,
        Message=alert.body,
        MessageAttributes={
            ALERT_DISTRICT_ATTRIBUTE: {"DataType": "String", "StringValue": audience}
        },
    )
    return response["MessageId"]


def redact_cers_message(message: str) -> str:
    """CERS failure lines with the row values they quote replaced by '...'."""
    lines = []
    for line in message.splitlines():
        line = _BRACKETED.sub("[...]", line)
        lines.append(_QUOTED_VALUE.sub(r"\1: ...", line))
    return "\n".join(lines)


def _details(status: Status, submission: dict[str, Any]) -> str:
    if status is Status.INVALID:
        return _problem_list(submission)
    if status is Status.BAD_DATA:
        answer = redact_cers_message(submission.get("cers_message") or "(no message)")
        return f"CERS import {submission.get('cers_import_id')} answered BAD_DATA:\n{answer}"
    return submission.get("failure", "")


def _problem_list(submission: dict[str, Any]) -> str:
    problems = submission.get("problems", [])
    total = int(submission.get("problem_count", len(problems)))
    rules = sorted({problem["rule"] for problem in problems})
    lines = [
        f"{total} problem(s) found in {submission.get('rows', 0)} data rows.",
        f"Rules broken: {', '.join(rules)}",
        f"First {min(total, PROBLEMS_KEPT)} problem(s). Row N is the N-th data row after the"
        " header, which is line N+1 of the file:",
    ]
    for problem in problems:
        where = f"row {problem['row']}" if problem.get("row") is not None else "whole file"
        lines.append(f"  - {where} [{problem['rule']}]: {problem['message']}")
    return "\n".join(lines)


def _references(submission: dict[str, Any], bucket: str) -> str:
    lines = [f"Submission: {submission['submission_id']}"]
    if submission.get("report_key"):
        lines.append(f"Full report: s3://{bucket}/{submission['report_key']}")
    return "\n".join(lines)


def _fit_subject(subject: str) -> str:
    printable = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in subject)
    if len(printable) <= SUBJECT_LIMIT:
        return printable
    return printable[: SUBJECT_LIMIT - 3] + "..."
