"""The safety hold step of the main job: after validation, before the upload queue.

The member counts of every validated file are kept in the bucket
(``reports/<submission>/groups.json``). When the district's hold is enabled and it has a
processed upload to compare with, a file that would shrink or empty many groups goes from
VALIDATED to ON_HOLD, with its per-group differences in ``reports/<submission>/hold.json`` and
one alert; it waits there until an operator releases or rejects it.

Like every step, it starts from the recorded status, so running it twice repeats nothing: the
check runs only on a submission validated once and never held (a released or re-sent
submission is neither checked nor queued again: the operator's command queued it), and the
alert is claimed once.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cers_groups import storage
from cers_groups.alerts import publish_alert
from cers_groups.observability import logger, metrics
from cers_groups.queries import SubmissionQueries
from cers_groups.resources import REPORTS_PREFIX
from cers_groups.safety_hold import (
    GroupCounts,
    HoldCheck,
    compare,
    compose_hold_alert,
    count_groups,
    read_group_students,
)
from cers_groups.settings import Settings
from cers_groups.submissions import HOLD_ALERT, Status, SubmissionStore
from cers_groups.tenants import District

GROUPS_REPORT = "groups.json"
HOLD_REPORT = "hold.json"


def report_key(submission_id: str, name: str) -> str:
    return f"{REPORTS_PREFIX}{submission_id}/{name}"


def clear_to_send(
    submission: dict[str, Any], district: District, store: SubmissionStore, settings: Settings
) -> bool:
    """True when the validated submission may be queued for upload; False when it is held,
    or when an operator's release or resend made it VALIDATED again (and queued it)."""
    submission_id = submission["submission_id"]
    if submission["status"] == Status.VALIDATED and not _first_validation(submission):
        return False
    if submission["status"] == Status.VALIDATED:
        _check(submission, district, store, settings)
        submission = store.get(submission_id) or submission

    if submission["status"] == Status.ON_HOLD:
        _alert_once(store, submission_id, settings)
        return False
    return submission["status"] == Status.VALIDATED


def _first_validation(submission: dict[str, Any]) -> bool:
    steps = [step["status"] for step in submission.get("history", [])]
    return steps.count(Status.VALIDATED) == 1 and Status.ON_HOLD not in steps


def _check(submission: dict, district: District, store: SubmissionStore, settings: Settings):
    submission_id = submission["submission_id"]
    counts = _count(submission)
    storage.put_report_stream(
        settings.bucket,
        report_key(submission_id, GROUPS_REPORT),
        counts.json_lines(submission_id=submission_id, file=submission["key"]),
    )
    if not district.hold.enabled:
        return

    queries = SubmissionQueries(settings.submissions_table)
    baseline = queries.latest(district.id, Status.PROCESSED)
    check = _compare_with_baseline(baseline, counts, district, settings) if baseline else None
    if check is None:
        logger.info("No processed upload to compare with; no safety hold check")
        return

    summary = check.summary()
    logger.info(
        "Safety hold checked",
        held=check.held,
        baseline=baseline["submission_id"],
        **{name: value for name, value in summary.items() if isinstance(value, int)},
    )
    if check.held:
        _hold(submission_id, baseline, check, store, settings)


def _hold(submission_id: str, baseline: dict, check, store: SubmissionStore, settings: Settings):
    diff_key = report_key(submission_id, HOLD_REPORT)
    document = {
        "submission_id": submission_id,
        "baseline": {
            "submission_id": baseline["submission_id"],
            "file": baseline["key"],
            "dropped_at": baseline.get("dropped_at"),
        },
        **check.to_document(),
    }
    storage.put_report(settings.bucket, diff_key, document)
    hold = {**check.summary(), "baseline": baseline["submission_id"], "diff_key": diff_key}
    if store.advance(submission_id, Status.VALIDATED, Status.ON_HOLD, hold=hold):
        logger.warning("Submission put on hold", groups_emptied=check.emptied)
        metrics.add_metric(name="FilesHeld", unit=MetricUnit.Count, value=1)


def _count(submission: dict[str, Any]) -> GroupCounts:
    """Counts of the bytes CERS will get: the normalized copy when there is one."""
    normalized = "upload_key" in submission
    roster = storage.open_roster(
        submission["bucket"],
        submission["upload_key"] if normalized else submission["key"],
        submission.get("upload_version_id" if normalized else "version_id"),
    )
    with roster.body:
        return count_groups(roster.body)


def _compare_with_baseline(
    baseline: dict[str, Any], counts: GroupCounts, district: District, settings: Settings
) -> HoldCheck | None:
    """The check against the counts kept for the baseline, streamed from the bucket; against
    its file recounted if they were never kept; None when neither is there."""
    key = report_key(baseline["submission_id"], GROUPS_REPORT)
    try:
        kept = storage.open_roster(settings.bucket, key, None)  # any object, as a stream
    except Exception as error:
        if not storage.is_missing_object(error):
            raise
    else:
        with kept.body:
            return compare(read_group_students(kept.body), counts, district.hold)

    try:
        previous = _count(baseline)
    except Exception as error:
        if not storage.is_missing_object(error):
            raise
        logger.warning("The baseline's file is gone", baseline=baseline["submission_id"])
        return None
    return compare(previous, counts, district.hold)


def _alert_once(store: SubmissionStore, submission_id: str, settings: Settings) -> None:
    """One hold alert, even when runs overlap; a claim left by a run that died goes stale."""
    submission = store.get(submission_id) or {}
    if HOLD_ALERT.sent in submission or not store.claim_alert(submission_id, mark=HOLD_ALERT):
        return
    alert = compose_hold_alert(submission, settings.bucket)
    publish_alert(settings.alert_topic_arn, alert, audience=submission["district"])
    store.mark_alerted(submission_id, mark=HOLD_ALERT)
    logger.info("Hold alert sent")
