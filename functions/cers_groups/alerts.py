"""Alert e-mails for district IT: what happened, what to do next, where the details are.

An alert names the district, the file, the outcome, the rules broken (each with its count) and
the rows of the first problems. It never carries a value from a roster row: problem messages are
written without values, and the text CERS sends back has the values it quotes blanked out.
"""

from dataclasses import dataclass
from typing import Any

from cers_groups import aws_clients
from cers_groups.events import file_name
from cers_groups.redaction import redact_cers_message
from cers_groups.resources import ALERT_DISTRICT_ATTRIBUTE
from cers_groups.submissions import PROBLEMS_KEPT, Status

SUBJECT_LIMIT = 100  # SNS rejects longer e-mail subjects.
LISTED_PROBLEMS = PROBLEMS_KEPT
LISTED_CERS_LINES = 20

OUTCOMES = {
    Status.REJECTED: "was dropped outside every district's folder",
    Status.INVALID: "failed validation",
    Status.BAD_DATA: "was rejected by CERS",
    Status.AUTH_FAILED: "could not be sent: CERS sign-in failed",
    Status.UPLOAD_FAILED: "could not be delivered to CERS",
    Status.OUTCOME_UNKNOWN: "has an unknown outcome at CERS",
    Status.ERROR: "could not be processed",
    Status.ON_HOLD: "was held back as a likely broken export",
    Status.PERMISSION_DENIED: "could not be sent: the CERS login may not write groups",
    Status.STUCK: "is still unfinished at CERS",
}

NEXT_STEPS = {
    Status.REJECTED: (
        "The file was not read or sent. Have the SIS export write into the district's own"
        " folder, incoming/<district id>/, or add the district to the tenants file."
    ),
    Status.INVALID: (
        "Nothing was sent to CERS. Correct the rows with problems in the SIS export (or the"
        " file), then drop the corrected file in the same folder again."
    ),
    Status.BAD_DATA: (
        "Correct the rows CERS names in its answer (the report shows the answer in full) and"
        " drop the corrected file again."
    ),
    Status.AUTH_FAILED: (
        "The file was not sent. Fix the CERS credential as the failure describes, then drop the"
        " file again. Repeated failed sign-ins can lock the account, so fix the credential first."
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
    Status.ON_HOLD: (
        "Nothing was sent to CERS. Check whether the groups really lost those students. If so,"
        " an operator sends the file with `cers-groups release <submission>`; if the export is"
        " broken, `cers-groups reject <submission>` closes it, and the corrected export can be"
        " dropped again."
    ),
}

GENERAL_NEXT_STEP = (
    "Open the full report below; the README's runbook says what this status means and what to do."
)


@dataclass(frozen=True)
class Alert:
    subject: str
    body: str


def compose_alert(submission: dict[str, Any], bucket: str, report_page: str | None = None) -> Alert:
    """The e-mail about a submission in a status that needs a person.

    ``report_page`` is the key of the submission's HTML report when it has been written.
    """
    status = submission["status"]
    subject = f"CERS groups [{submission['district']}] {file_name(submission['key'])}"
    sections = [
        _what_happened(submission, bucket),
        _details(submission),
        f"What to do next:\n{NEXT_STEPS.get(status, GENERAL_NEXT_STEP)}",
        _report_location(submission, bucket, report_page),
        f"Submission id: {submission['submission_id']}",
    ]
    return Alert(
        subject=fit_subject(f"{subject} {outcome(status)}"),
        body="\n\n".join(section for section in sections if section) + "\n",
    )


def publish_alert(topic_arn: str, alert: Alert, audience: str) -> str:
    """Publish to the alert topic; ``audience`` (a district id) picks the e-mail subscribers."""
    response = aws_clients.client("sns").publish(
        TopicArn=topic_arn,
        Subject=alert.subject,
        Message=alert.body,
        MessageAttributes={
            ALERT_DISTRICT_ATTRIBUTE: {"DataType": "String", "StringValue": audience}
        },
    )
    return response["MessageId"]


def outcome(status: str) -> str:
    """What happened to the file, as the end of a sentence about it."""
    return OUTCOMES.get(status, f"ended as {status}")


def next_step(status: str) -> str:
    return NEXT_STEPS.get(status, GENERAL_NEXT_STEP)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 problem``, ``2 problems``, ``1,000 problems``."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def rule_counts(submission: dict[str, Any]) -> tuple[dict[str, int], bool]:
    """How often each rule was broken, most often first, and whether the counts are complete.

    The item's ``rule_counts`` covers the whole file; without it, the problems stored in the
    item are counted, which is complete only when they are all the problems there are.
    """
    stored = submission.get("rule_counts")
    problems = submission.get("problems", [])
    complete = bool(stored)
    if not complete:
        stored = {}
        for problem in problems:
            stored[problem["rule"]] = stored.get(problem["rule"], 0) + 1
        total = submission.get("problem_count")
        complete = total is not None and int(total) <= len(problems)
    counts = {rule: int(count) for rule, count in stored.items()}
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return dict(ordered), complete


def problem_total(submission: dict[str, Any]) -> int:
    if submission.get("problem_count") is not None:
        return int(submission["problem_count"])
    counts, _ = rule_counts(submission)
    return sum(counts.values())


def status_time(submission: dict[str, Any], status: str) -> str | None:
    """When the submission last reached ``status``, from its history."""
    times = [step["at"] for step in submission.get("history", []) if step["status"] == status]
    return times[-1] if times else None


def readable_time(stamp: str) -> str:
    """``2026-12-03T17:02:12.386Z`` as ``2026-12-03 17:02:12 UTC``."""
    if len(stamp) >= 19 and stamp[10] == "T" and stamp.endswith("Z"):
        return f"{stamp[:10]} {stamp[11:19]} UTC"
    return stamp


def _what_happened(submission: dict[str, Any], bucket: str) -> str:
    status = submission["status"]
    when = status_time(submission, status) or submission.get("updated_at")
    lines = [
        "What happened:",
        f"The roster file {file_name(submission['key'])} {outcome(status)}"
        + (f" at {readable_time(when)}." if when else "."),
        f"District: {submission['district']}",
        f"File: s3://{bucket}/{submission['key']}",
    ]
    if submission.get("dropped_at"):
        lines.append(f"Dropped at: {readable_time(submission['dropped_at'])}")
    return "\n".join(lines)


def _details(submission: dict[str, Any]) -> str:
    status = submission["status"]
    if status == Status.INVALID:
        return _problem_list(submission)
    if status == Status.BAD_DATA:
        return _cers_answer(submission)
    return submission.get("failure", "")


def _problem_list(submission: dict[str, Any]) -> str:
    problems = submission.get("problems", [])[:LISTED_PROBLEMS]
    counts, complete = rule_counts(submission)
    total = problem_total(submission)
    rows = int(submission.get("rows", 0))
    lines = [
        f"{counted(total, 'problem')} found in {counted(rows, 'data row')};"
        f" {counted(len(counts), 'rule')} broken.",
        "",
        "Rules broken:" if complete else "Rules broken among the problems listed below:",
    ]
    lines += [f"  - {rule}: {counted(count, 'time')}" for rule, count in counts.items()]
    if len(problems) < total:
        listed = f"The first {counted(len(problems), 'problem')}"
    else:
        listed = "The problem" if total == 1 else "The problems"
    lines += [
        "",
        f"{listed}. Row N is the N-th data row after the header, which is line N+1 of the file:",
    ]
    for problem in problems:
        where = f"row {problem['row']}" if problem.get("row") is not None else "whole file"
        lines.append(f"  - {where} [{problem['rule']}]: {problem['message']}")
    if total > len(problems):
        lines.append(f"  ... and {counted(total - len(problems), 'more problem')} in the report.")
    return "\n".join(lines)


def _cers_answer(submission: dict[str, Any]) -> str:
    import_id = submission.get("cers_import_id")
    answered = status_time(submission, Status.BAD_DATA)
    if status_time(submission, Status.ACCEPTED):
        effect = (
            "CERS accepted the file, then failed while processing it: some groups may already"
            " have been changed."
        )
    else:
        effect = "CERS rejected the whole file: no group was changed."
    lines = (redact_cers_message(submission.get("cers_message") or "(no message)")).splitlines()
    shown = lines[:LISTED_CERS_LINES]
    text = [
        f"CERS import {import_id} answered BAD_DATA"
        + (f" at {readable_time(answered)}." if answered else "."),
        effect,
        f"CERS's answer ({counted(len(lines), 'line')}; the values it quotes from the file are"
        ' replaced by "..."):',
        *(f"  {line}" for line in shown),
    ]
    if len(lines) > len(shown):
        text.append(f"  ... and {counted(len(lines) - len(shown), 'more line')} in the report.")
    return "\n".join(text)


def _report_location(submission: dict[str, Any], bucket: str, report_page: str | None) -> str:
    key = report_page or submission.get("report_key")
    if not key:
        return ""
    location = f"s3://{bucket}/{key}"
    return "\n".join(
        [
            "Full report (every problem, grouped by rule, and what CERS answered):",
            f"  {location}",
            "It is in the roster bucket, with the CSV of problems and the JSON report beside it."
            " With access to the bucket, get it with",
            f"  cers-groups report {submission['submission_id']}",
            "or",
            f"  aws s3 cp {location} .",
        ]
    )


def fit_subject(subject: str) -> str:
    """Printable ASCII within SNS's limit for e-mail subjects."""
    printable = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in subject)
    if len(printable) <= SUBJECT_LIMIT:
        return printable
    return printable[: SUBJECT_LIMIT - 3] + "..."
