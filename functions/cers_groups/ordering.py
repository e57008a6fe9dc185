"""Versions of one file: an older roster is never sent to CERS after a newer one of the same key.

S3 does not promise to notify in order. When a district overwrites ``incoming/<id>/class.csv``
and the overwrite's notification is handled first, the original's arrives later and would be
sent last; CERS replaces each group with what a file lists, so the older roster would undo the
newer one. Before a file is sent, the district's submissions of the same key are looked at: if a
newer version is already on its way to CERS (validated, waiting, sent or processed), the older
one is recorded as SUPERSEDED and not sent.

Which version is newer: the one whose S3 ``sequencer`` is greater (S3's documented order of
events on one key: right-pad the shorter value with zeros, then compare), else (no sequencer,
or the same one) the later event time.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cers_groups.observability import logger, metrics
from cers_groups.submissions import Status, SubmissionStore

# A newer version in one of these is, or will be, what CERS holds for the file.
ON_ITS_WAY = frozenset(
    {
        Status.VALIDATED,
        Status.WAITING,
        Status.UPLOADING,
        Status.ACCEPTED,
        Status.PROCESSED,
        Status.UNCONFIRMED,
        Status.STUCK,
        Status.DUPLICATE,
    }
)


def record_if_superseded(submission: dict[str, Any], store: SubmissionStore) -> bool:
    """True when a newer version of the file is on its way to CERS; the submission (VALIDATED)
    is then recorded as SUPERSEDED, with nothing sent."""
    newer = newer_version(submission, store)
    if newer is None:
        return False
    advanced = store.advance(
        submission["submission_id"],
        Status.VALIDATED,
        Status.SUPERSEDED,
        superseded_by=newer["submission_id"],
        note=(
            f"A newer version of {submission['key']} (submission {newer['submission_id']}) "
            "was already on its way to CERS when this one was due to be sent; sending this "
            "older version after it would have put the older roster back, so nothing was sent."
        ),
    )
    if advanced:
        logger.info("Older version not sent", superseded_by=newer["submission_id"])
        metrics.add_metric(name="FilesSuperseded", unit=MetricUnit.Count, value=1)
    return True


def newer_version(submission: dict[str, Any], store: SubmissionStore) -> dict[str, Any] | None:
    """The newest submission of a later version of the same key on its way to CERS, if any."""
    # A later version was dropped after this one, so its submission was created after that.
    since = submission.get("dropped_at") or submission["created_at"]
    newer = [
        item
        for item in store.recent(submission["district"], since=since)
        if item["key"] == submission["key"]
        and item["submission_id"] != submission["submission_id"]
        and item["status"] in ON_ITS_WAY
        and is_later(item, submission)
    ]
    return newer[-1] if newer else None


def is_later(item: dict[str, Any], than: dict[str, Any]) -> bool:
    """Whether ``item``'s S3 event on the key came after ``than``'s."""
    mine, theirs = item.get("sequencer") or "", than.get("sequencer") or ""
    if mine and theirs and mine != theirs:
        width = max(len(mine), len(theirs))
        return mine.upper().ljust(width, "0") > theirs.upper().ljust(width, "0")
    return (item.get("dropped_at") or "") > (than.get("dropped_at") or "")
