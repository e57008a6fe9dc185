"""Recording how a submission ended, and the one alert a failure sends.

Shared by the validator, the uploader and the poller, so every path to a failed status writes it
the same way and every failure alerts exactly once.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from cers_groups import reports
from cers_groups.alerts import compose_alert, publish_alert
from cers_groups.observability import logger, metrics
from cers_groups.settings import Settings
from cers_groups.submissions import Status, SubmissionStore, needs_alert

# How many times a queue message is tried before its submission is given up on; the queues'
# redrive policies (maxReceiveCount) use the same number.
MAX_ATTEMPTS = 3


def fail(store, submission_id, expected: Status, status: Status, failure: str, **fields) -> bool:
    """Move the submission from ``expected`` to the failed ``status`` with its explanation."""
    if not store.advance(submission_id, expected, status, failure=failure, **fields):
        return False
    logger.warning("Submission failed", status=status.value, reason=fields.get("reason"))
    metrics.add_metric(name="FilesFailed", unit=MetricUnit.Count, value=1)
    return True


def alert_if_needed(store: SubmissionStore, submission_id: str, settings: Settings) -> None:
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
    try:
        store.mark_alerted(submission_id)
    except ClientError:
        # The e-mail is out. Failing the run would bring the message back after its visibility
        # timeout, when this claim has gone stale, and the alert would go out a second time.
        logger.exception("Alert sent but not recorded as sent", status=submission["status"])
        metrics.add_metric(name="AlertsNotRecorded", unit=MetricUnit.Count, value=1)
        return
    logger.info("Alert sent", status=submission["status"])


def _refresh_report(submission: dict[str, Any], bucket: str) -> str | None:
    """The report page's key; None when it could not be written, which holds no alert back."""
    try:
        return reports.refresh_report(bucket, submission)
    except Exception:  # noqa: BLE001 - the report is derived; the recorded status is what counts
        logger.exception("Report not written")
        metrics.add_metric(name="ReportsFailed", unit=MetricUnit.Count, value=1)
        return None
