"""The main job: a dropped roster is validated, sent to CERS and every step recorded.

Each step starts from the submission's recorded status, so running a step twice for one event
repeats nothing that has already happened: a validated file is not validated again, and a file
that reached UPLOADING is never sent a second time.
"""

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cers_groups import hold_step, storage, uploads
from cers_groups.events import DroppedObject
from cers_groups.observability import count_for_district, logger, metrics
from cers_groups.outcomes import MAX_ATTEMPTS
from cers_groups.outcomes import alert_if_needed as _alert_if_needed
from cers_groups.outcomes import fail as _fail
from cers_groups.preparation import prepare_roster
from cers_groups.resources import FILES_RECEIVED, OPERATORS_AUDIENCE, VALIDATION_SECONDS
from cers_groups.settings import Settings
from cers_groups.submissions import (
    FINAL,
    PENDING,
    Status,
    SubmissionStore,
)
from cers_groups.tenants import District


def validate_dropped_object(dropped: DroppedObject, settings: Settings) -> Status:
    store = SubmissionStore(settings.submissions_table)
    submission_id = dropped.submission_id
    district = settings.tenants.district_for_key(dropped.key)
    logger.set_correlation_id(submission_id)
    logger.append_keys(submission_id=submission_id, district=district.id if district else None)

    record_dropped(dropped, settings, store)

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


def record_dropped(dropped: DroppedObject, settings: Settings, store=None) -> None:
    """Record a dropped object as RECEIVED, once, before anything else happens to it.

    The validator records every object of its batch first: a district's file then holds back
    the district's later files (see ``uploads.blockers``) while it waits its turn in the batch.
    """
    store = store or SubmissionStore(settings.submissions_table)
    district = settings.tenants.district_for_key(dropped.key)
    fields = _submission_fields(dropped, district)
    ttl_days = settings.tenants.deployment.submission_ttl_days
    if store.create(dropped.submission_id, ttl_days=ttl_days, **fields):
        logger.set_correlation_id(dropped.submission_id)
        logger.info(
            "Roster received",
            key=dropped.key,
            size=dropped.size,
            submission_id=dropped.submission_id,
        )
        metrics.add_metric(name=FILES_RECEIVED, unit=MetricUnit.Count, value=1)
        count_for_district(FILES_RECEIVED, fields["district"])


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
    if dropped.sequencer:
        fields["sequencer"] = dropped.sequencer  # orders the versions of one key
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
