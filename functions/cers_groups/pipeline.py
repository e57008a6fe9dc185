"""The main job: a dropped roster is validated, sent to CERS and every step recorded.

Each step starts from the submission's recorded status, so running a step twice for one event
repeats nothing that has already happened: a validated file is not validated again, and a file
that reached UPLOADING is never sent a second time.
"""

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cers_groups import cers, cognito, hold_step, reports, storage
from cers_groups.alerts import compose_alert, publish_alert
from cers_groups.errors import ConfigurationError
from cers_groups.events import DroppedObject, file_name
from cers_groups.observability import count_for_district, logger, metrics
from cers_groups.preparation import prepare_roster
from cers_groups.resources import (
    FILES_PROCESSED,
    FILES_RECEIVED,
    OPERATORS_AUDIENCE,
    UPLOAD_SECONDS,
    VALIDATION_SECONDS,
)
from cers_groups.settings import Settings
from cers_groups.submissions import (
    FINAL,
    PENDING,
    Status,
    SubmissionStore,
    needs_alert,
)
from cers_groups.tenants import District

# Sign-in failures worth another try before the submission is marked failed.
RETRYABLE_AUTH = frozenset({"throttled", "unreachable"})
MAX_ATTEMPTS = 3

CERS_STATUSES = {
    "ACCEPTED": Status.ACCEPTED,
    "PROCESSED": Status.PROCESSED,
    "BAD_DATA": Status.BAD_DATA,
}
CERS_ERROR_STATUSES = {
    "unauthorized": Status.AUTH_FAILED,
    "forbidden": Status.AUTH_FAILED,
    "outcome-unknown": Status.OUTCOME_UNKNOWN,
}


class RetryLater(Exception):
    """A passing failure: the message goes back on the queue and is tried again."""


def validate_dropped_object(dropped: DroppedObject, settings: Settings) -> Status:
    store = SubmissionStore(settings.submissions_table)
    submission_id = dropped.submission_id
    district = settings.tenants.district_for_key(dropped.key)
    logger.set_correlation_id(submission_id)
    logger.append_keys(submission_id=submission_id, district=district.id if district else None)

    fields = _submission_fields(dropped, district)
    ttl_days = settings.tenants.deployment.submission_ttl_days
    if store.create(submission_id, ttl_days=ttl_days, **fields):
        logger.info("Roster received", key=dropped.key, size=dropped.size)
        metrics.add_metric(name=FILES_RECEIVED, unit=MetricUnit.Count, value=1)
        count_for_district(FILES_RECEIVED, fields["district"])

    submission = store.get(submission_id) or {}
    if submission.get("status") == Status.RECEIVED and district is None:
        _reject_outside_districts(store, submission_id, dropped)
    elif submission.get("status") == Status.RECEIVED:
        _validate(dropped, submission_id, district, store, settings)
    submission = store.get(submission_id) or {}
    if district and submission.get("status") in (Status.VALIDATED, Status.ON_HOLD):
        if hold_step.clear_to_send(submission, district, store, settings):
            storage.queue_upload(settings.upload_queue_url, submission_id, district.id)
        submission = store.get(submission_id) or submission
    elif district and submission.get("status") == Status.SPLIT:
        _queue_parts(store, submission, district, settings)

    _alert_if_needed(store, submission_id, settings)
    return Status(submission["status"])


def upload_submission(submission_id: str, settings: Settings, attempt: int) -> Status | None:
    store = SubmissionStore(settings.submissions_table)
    logger.set_correlation_id(submission_id)
    logger.append_keys(submission_id=submission_id)
    submission = store.get(submission_id)
    if submission is None:
        logger.error("Upload requested for an unknown submission")
        return None

    district = settings.tenants.district(submission["district"])
    if submission["status"] == Status.UPLOADING:
        _record_unknown_outcome(store, submission_id)
    elif submission["status"] == Status.VALIDATED and district is None:
        _fail(
            store,
            submission_id,
            Status.VALIDATED,
            Status.UPLOAD_FAILED,
            "The submission's district is no longer in the tenants file; nothing was sent.",
        )
    elif submission["status"] == Status.VALIDATED:
        _sign_in_and_send(submission, district, store, settings, attempt)

    _alert_if_needed(store, submission_id, settings)
    return Status((store.get(submission_id) or submission)["status"])


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
        _fail(
            store,
            submission_id,
            status,
            Status.OUTCOME_UNKNOWN,
            f"The upload to CERS was interrupted ({type(error).__name__}); CERS may or may not"
            " have received the file.",
        )
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
    started = time.monotonic()
    prepared = prepare_roster(dropped, submission_id, district, settings.bucket)
    seconds = time.monotonic() - started
    if prepared.split:
        _record_parts(store, submission_id, dropped, district, prepared)
        outcome = Status.SPLIT
    else:
        outcome = Status.VALIDATED if prepared.valid else Status.INVALID
    store.advance(submission_id, Status.RECEIVED, outcome, **prepared.fields)

    fields = prepared.fields
    logger.info(
        "Roster validated",
        status=outcome.value,
        rows=fields["rows"],
        errors=fields["error_count"],
        warnings=fields["warning_count"],
        normalized="upload_key" in fields,
        parts=len(prepared.parts),
    )
    metrics.add_metric(
        name="FilesValid" if outcome != Status.INVALID else "FilesInvalid",
        unit=MetricUnit.Count,
        value=1,
    )
    metrics.add_metric(name="RowsValidated", unit=MetricUnit.Count, value=fields["rows"])
    metrics.add_metric(name=VALIDATION_SECONDS, unit=MetricUnit.Seconds, value=seconds)


def _record_parts(store, submission_id: str, dropped, district: District, prepared) -> None:
    """One submission per part, ready to send; they are queued in order once recorded."""
    part_ids = []
    for part in prepared.parts:
        part_id = f"{submission_id}-part-{part['part']:03d}"
        fields = {**_submission_fields(dropped, district), **part}
        store.create(part_id, parent_submission_id=submission_id, **fields)
        store.advance(part_id, Status.RECEIVED, Status.VALIDATED)
        part_ids.append(part_id)
    prepared.fields["part_ids"] = part_ids


def _queue_parts(store, submission: dict, district: District, settings) -> None:
    """The parts go on the district's FIFO message group in order, so CERS gets them so."""
    for part_id in submission.get("part_ids", []):
        part = store.get(part_id) or {}
        if part.get("status") == Status.VALIDATED:
            storage.queue_upload(settings.upload_queue_url, part_id, district.id)


def _sign_in_and_send(
    submission: dict, district: District, store: SubmissionStore, settings, attempt: int
):
    submission_id = submission["submission_id"]
    try:
        token = _sign_in(district)
    except ConfigurationError as error:
        _fail(
            store,
            submission_id,
            Status.VALIDATED,
            Status.AUTH_FAILED,
            str(error),
            reason="secret-invalid",
        )
        return
    except cognito.AuthenticationError as error:
        if error.reason in RETRYABLE_AUTH and attempt < MAX_ATTEMPTS:
            raise RetryLater(f"CERS sign-in: {error.reason}") from error
        _fail(
            store,
            submission_id,
            Status.VALIDATED,
            Status.AUTH_FAILED,
            str(error),
            reason=error.reason,
        )
        return

    if not store.advance(submission_id, Status.VALIDATED, Status.UPLOADING):
        logger.info("Upload already taken by another run")
        return
    _send(submission, store, district.cers_endpoint, token)


def _sign_in(district: District) -> str:
    """A bearer token for the district. After a refused password the secret is read once more,
    skipping the cache, in case someone has just put the corrected credential in it."""
    credentials = cognito.read_credentials(district.secret_name)
    try:
        return cognito.authenticate(credentials)
    except cognito.AuthenticationError as error:
        if error.reason != "wrong-password":
            raise
        fresh = cognito.read_credentials(district.secret_name, force_fetch=True)
        if fresh == credentials:
            raise
        return cognito.authenticate(fresh)


def _send(submission: dict[str, Any], store: SubmissionStore, endpoint: str, token: str):
    submission_id = submission["submission_id"]
    filename = submission.get("upload_name") or file_name(submission["key"])
    roster = storage.open_roster(
        submission["bucket"],
        submission.get("upload_key", submission["key"]),
        submission.get("upload_version_id" if "upload_key" in submission else "version_id"),
    )
    started = time.monotonic()
    try:
        with roster.body:
            answer = cers.CersClient(endpoint, token).submit_roster(
                filename, roster.body, roster.size
            )
    except cers.CersError as error:
        status = CERS_ERROR_STATUSES.get(error.reason, Status.UPLOAD_FAILED)
        _fail(store, submission_id, Status.UPLOADING, status, str(error), reason=error.reason)
        return

    status = CERS_STATUSES.get(answer.status, Status.UPLOAD_FAILED)
    store.advance(submission_id, Status.UPLOADING, status, **_import_fields(answer))
    logger.info("Roster sent to CERS", cers_import_id=answer.id, cers_status=answer.status)
    metrics.add_metric(name="FilesUploaded", unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name=UPLOAD_SECONDS, unit=MetricUnit.Seconds, value=time.monotonic() - started
    )
    if status == Status.PROCESSED:
        metrics.add_metric(name=FILES_PROCESSED, unit=MetricUnit.Count, value=1)


def _record_unknown_outcome(store: SubmissionStore, submission_id: str) -> None:
    # TODO(#4): look the import up by batch name at CERS before giving up; the upload was
    # interrupted after it started, so sending it again could double-apply it.
    _fail(
        store,
        submission_id,
        Status.UPLOADING,
        Status.OUTCOME_UNKNOWN,
        "An earlier attempt started sending this file to CERS and did not record the answer.",
    )


def _fail(store, submission_id, expected: Status, status: Status, failure: str, **fields):
    if store.advance(submission_id, expected, status, failure=failure, **fields):
        logger.warning("Submission failed", status=status.value, reason=fields.get("reason"))
        metrics.add_metric(name="FilesFailed", unit=MetricUnit.Count, value=1)


def _alert_if_needed(store: SubmissionStore, submission_id: str, settings: Settings) -> None:
    """Every step ends here: the report is brought up to the recorded state, then one alert goes
    out per failed submission, even when runs overlap; a run that dies after its claim leaves
    the claim to go stale, so a later run sends the alert instead."""
    submission = store.get(submission_id)
    if submission is None:
        return
    report_page = _refresh_report(submission, settings.bucket)
    if not needs_alert(submission) or not store.claim_alert(submission_id):
        return
    alert = compose_alert(submission, settings.bucket, report_page)
    publish_alert(settings.alert_topic_arn, alert, audience=submission["district"])
    store.mark_alerted(submission_id)
    logger.info("Alert sent", status=submission["status"])


def _refresh_report(submission: dict[str, Any], bucket: str) -> str | None:
    """The report page's key; None when it could not be written, which holds no alert back."""
    try:
        return reports.refresh_report(bucket, submission)
    except Exception:  # noqa: BLE001 - the report is derived; the recorded status is what counts
        logger.exception("Report not written")
        metrics.add_metric(name="ReportsFailed", unit=MetricUnit.Count, value=1)
        return None


def _import_fields(answer: cers.ImportResource) -> dict[str, Any]:
    fields: dict[str, Any] = {"cers_import_id": answer.id, "cers_status": answer.status}
    if answer.digest:
        fields["cers_digest"] = answer.digest
    if answer.message:
        fields["cers_message"] = answer.message
    return fields
