"""The main job: a dropped roster is validated, sent to CERS and every step recorded.

Each step starts from the submission's recorded status, so running a step twice for one event
repeats nothing that has already happened: a validated file is not validated again, and a file
that reached UPLOADING is never sent a second time.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cers_groups import storage, uploads
from cers_groups.events import DroppedObject
from cers_groups.observability import logger, metrics
from cers_groups.outcomes import MAX_ATTEMPTS
from cers_groups.outcomes import alert_if_needed as _alert_if_needed
from cers_groups.outcomes import fail as _fail
from cers_groups.resources import OPERATORS_AUDIENCE, REPORTS_PREFIX
from cers_groups.roster import RosterReport, validate_roster
from cers_groups.settings import Settings
from cers_groups.submissions import (
    FINAL,
    PENDING,
    PROBLEMS_KEPT,
    Status,
    SubmissionStore,
    digest_key,
)
from cers_groups.tenants import District


def validate_dropped_object(dropped: DroppedObject, settings: Settings) -> Status:
    store = SubmissionStore(settings.submissions_table)
    submission_id = dropped.submission_id
    district = settings.tenants.district_for_key(dropped.key)
    logger.append_keys(submission_id=submission_id, district=district.id if district else None)

    if store.create(submission_id, **_submission_fields(dropped, district)):
        logger.info("Roster received", key=dropped.key, size=dropped.size)
        metrics.add_metric(name="FilesReceived", unit=MetricUnit.Count, value=1)

    submission = store.get(submission_id) or {}
    if submission.get("status") == Status.RECEIVED and district is None:
        _reject_outside_districts(store, submission_id, dropped)
    elif submission.get("status") == Status.RECEIVED:
        _validate(dropped, submission_id, district, store, settings)
    submission = store.get(submission_id) or {}
    if district and submission.get("status") == Status.VALIDATED:
        storage.queue_upload(settings.upload_queue_url, submission_id, district.id)

    _alert_if_needed(store, submission_id, settings)
    return Status(submission["status"])


def upload_submission(submission_id: str, settings: Settings, attempt: int) -> Status | None:
    """Sending lives in ``cers_groups.uploads``; kept here for callers of the first version."""
    return uploads.upload_submission(submission_id, settings, attempt)


def give_up_validation(dropped: DroppedObject, settings: Settings, error: Exception) -> None:
    """The last attempt failed: record the submission as ERROR rather than leave it mid-way."""
    store = SubmissionStore(settings.submissions_table)
    district = settings.tenants.district_for_key(dropped.key)
    store.create(dropped.submission_id, **_submission_fields(dropped, district))
    give_up(dropped.submission_id, settings, error)


def give_up(submission_id: str, settings: Settings, error: Exception) -> None:
    """The last attempt failed: end the submission in a recorded state, with one alert."""
    store = SubmissionStore(settings.submissions_table)
    submission = store.get(submission_id)
    if submission is None:
        raise error
    status = Status(submission["status"])
    if status == Status.UPLOADING:
        uploads.interrupted(store, submission_id, error)
    elif status not in FINAL and status not in PENDING:
        _fail(
            store,
            submission_id,
            status,
            Status.ERROR,
            f"Processing stopped after {MAX_ATTEMPTS} attempts because of an internal error"
            f" ({type(error).__name__}). Nothing was sent to CERS.",
        )
    _alert_if_needed(store, submission_id, settings)


def _submission_fields(dropped: DroppedObject, district: District | None) -> dict[str, Any]:
    fields = {
        "district": district.id if district else OPERATORS_AUDIENCE,
        "bucket": dropped.bucket,
        "key": dropped.key,
        "size": dropped.size,
        "dropped_at": dropped.event_time,
    }
    if dropped.version_id:
        fields["version_id"] = dropped.version_id
    return fields


def _reject_outside_districts(store, submission_id: str, dropped: DroppedObject) -> None:
    failure = (
        f"The file {dropped.key} is not inside any district's folder (incoming/<district id>/),"
        " so it was not read and nothing was sent to CERS."
    )
    _fail(store, submission_id, Status.RECEIVED, Status.REJECTED, failure)


def _validate(dropped: DroppedObject, submission_id: str, district: District, store, settings):
    roster = storage.open_roster(dropped.bucket, dropped.key, dropped.version_id)
    with roster.body:
        report = validate_roster(roster.body)

    report_key = f"{REPORTS_PREFIX}{submission_id}/validation.json"
    storage.put_report(settings.bucket, report_key, _report_document(dropped, report))
    outcome = Status.VALIDATED if report.valid else Status.INVALID
    store.advance(
        submission_id,
        Status.RECEIVED,
        outcome,
        rows=report.rows,
        digest=report.digest,
        district_digest=digest_key(district.id, report.digest),
        problem_count=len(report.problems),
        problems=[_problem_item(problem) for problem in report.problems[:PROBLEMS_KEPT]],
        report_key=report_key,
        # The version read is the version sent, even if the key is overwritten meanwhile.
        **({"version_id": roster.version_id} if roster.version_id else {}),
    )

    logger.info(
        "Roster validated", status=outcome.value, rows=report.rows, problems=len(report.problems)
    )
    metrics.add_metric(
        name="FilesValid" if report.valid else "FilesInvalid", unit=MetricUnit.Count, value=1
    )
    metrics.add_metric(name="RowsValidated", unit=MetricUnit.Count, value=report.rows)


def _problem_item(problem) -> dict[str, Any]:
    return {"rule": problem.rule, "row": problem.row, "message": problem.message}


def _report_document(dropped: DroppedObject, report: RosterReport) -> dict[str, Any]:
    return {
        "file": dropped.key,
        "version_id": dropped.version_id,
        "valid": report.valid,
        "rows": report.rows,
        "size": report.size,
        "digest": report.digest,
        "errors": [_problem_item(problem) for problem in report.problems],
    }
