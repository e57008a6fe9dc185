"""The main job: a dropped roster is validated, sent to CERS and every step recorded.

Each step starts from the submission's recorded status, so running a step twice for one event
repeats nothing that has already happened: a validated file is not validated again, and a file
that reached UPLOADING is never sent a second time.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cers_groups import cers, cognito, storage
from cers_groups.alerts import compose_alert, publish_alert
from cers_groups.errors import ConfigurationError
from cers_groups.events import DroppedObject
from cers_groups.observability import logger, metrics
from cers_groups.preparation import prepare_roster
from cers_groups.resources import OPERATORS_AUDIENCE
from cers_groups.settings import Settings
from cers_groups.submissions import Status, SubmissionStore, needs_alert
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
    elif district and submission.get("status") == Status.SPLIT:
        _queue_parts(store, submission, district, settings)

    _alert_if_needed(store, submission_id, settings)
    return Status(submission["status"])


def upload_submission(submission_id: str, settings: Settings, attempt: int) -> Status | None:
    store = SubmissionStore(settings.submissions_table)
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
    prepared = prepare_roster(dropped, submission_id, district, settings.bucket)
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
        credentials = cognito.read_credentials(district.secret_name)
        token = cognito.authenticate(credentials)
    except ConfigurationError as error:
        _fail(store, submission_id, Status.VALIDATED, Status.AUTH_FAILED, str(error))
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


def _send(submission: dict[str, Any], store: SubmissionStore, endpoint: str, token: str):
    submission_id = submission["submission_id"]
    filename = submission.get("upload_name") or submission["key"].rsplit("/", 1)[-1]
    body, size = storage.open_roster(
        submission["bucket"],
        submission.get("upload_key", submission["key"]),
        submission.get("upload_version_id" if "upload_key" in submission else "version_id"),
    )
    try:
        with body:
            answer = cers.CersClient(endpoint, token).submit_roster(filename, body, size)
    except cers.CersError as error:
        status = CERS_ERROR_STATUSES.get(error.reason, Status.UPLOAD_FAILED)
        _fail(store, submission_id, Status.UPLOADING, status, str(error), reason=error.reason)
        return

    status = CERS_STATUSES.get(answer.status, Status.UPLOAD_FAILED)
    store.advance(submission_id, Status.UPLOADING, status, **_import_fields(answer))
    logger.info("Roster sent to CERS", cers_import_id=answer.id, cers_status=answer.status)
    metrics.add_metric(name="FilesUploaded", unit=MetricUnit.Count, value=1)


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
    """At most one alert per failed submission; a crash before marking it sends it again."""
    submission = store.get(submission_id)
    if submission is None or not needs_alert(submission):
        return
    alert = compose_alert(submission, settings.bucket)
    publish_alert(settings.alert_topic_arn, alert, audience=submission["district"])
    store.mark_alerted(submission_id)
    logger.info("Alert sent", status=submission["status"])


def _import_fields(answer: cers.ImportResource) -> dict[str, Any]:
    fields: dict[str, Any] = {"cers_import_id": answer.id, "cers_status": answer.status}
    if answer.digest:
        fields["cers_digest"] = answer.digest
    if answer.message:
        fields["cers_message"] = answer.message
    return fields
