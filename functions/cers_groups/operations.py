"""What operators do to submissions: drop a roster, release or reject a held one, send a
duplicate again.

Each action is a conditional status step, like every step of the main job: two operators
acting on one submission at once cannot both take it, and an action interrupted after its step
can be run again to finish (a released submission whose upload message was never queued is
queued by the next ``release``).
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from cers_groups import storage
from cers_groups.deployment import Deployment
from cers_groups.errors import CersGroupsError
from cers_groups.queries import SubmissionQueries
from cers_groups.submissions import Status, SubmissionStore

# Statuses of a file that CERS received (or may have): a held file released after one of these
# would undo it.
SENT = frozenset({Status.UPLOADING, Status.ACCEPTED, Status.PROCESSED, Status.OUTCOME_UNKNOWN})

SUBMISSION_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}")
SUBMISSION_ID_EXAMPLE = "20261203T101500Z-0123456789ab"
MAX_KEY_LENGTH = 250


class InvalidValueError(CersGroupsError, ValueError):
    """A value given by the operator has the wrong shape; the message shows the right one."""


class SubmissionNotFoundError(CersGroupsError):
    """No submission (or no report) with the given id."""


class WrongStatusError(CersGroupsError):
    """The submission is not in a status the action applies to."""


class DistrictNotFoundError(CersGroupsError):
    """The deployment serves no district with the given id."""


@dataclass(frozen=True)
class DroppedRoster:
    bucket: str
    key: str
    version_id: str | None


def check_submission_id(value: str) -> str:
    """The id as given, or InvalidValueError saying what one looks like."""
    if not SUBMISSION_ID.fullmatch(value):
        raise InvalidValueError(
            f"{value!r} is not a submission id; ids look like {SUBMISSION_ID_EXAMPLE}"
            " (see `cers-groups history --tenant <district>`)"
        )
    return value


class Operations:
    """Operator actions against one deployment; boto3 must already point at it."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.store = SubmissionStore(deployment.table)
        self.queries = SubmissionQueries(deployment.table)

    def get(self, submission_id: str) -> dict[str, Any]:
        submission = self.store.get(check_submission_id(submission_id))
        if submission is None:
            raise SubmissionNotFoundError(
                f"no submission {submission_id} in table {self.deployment.table}; list recent"
                " ones with `cers-groups history --tenant <district>`"
            )
        return submission

    def check_district(self, district: str) -> str:
        if district not in self.deployment.districts:
            known = ", ".join(self.deployment.districts) or "none"
            raise DistrictNotFoundError(
                f"{self.deployment.description} serves no district {district!r}; its districts:"
                f" {known} (add one to the tenants file and deploy)"
            )
        return district

    def submit(self, path: Path, district: str, name: str | None = None) -> DroppedRoster:
        """Puts a roster in the district's drop folder, as its SIS export would."""
        key = f"incoming/{self.check_district(district)}/{name or path.name}"
        if len(key) > MAX_KEY_LENGTH or "/" in (name or path.name):
            raise InvalidValueError(
                f"the object key {key!r} must be at most {MAX_KEY_LENGTH} characters with no"
                " folder in the file name; pass a shorter --as NAME"
            )
        with path.open("rb") as body:
            response = boto3.client("s3").put_object(
                Bucket=self.deployment.bucket, Key=key, Body=body
            )
        return DroppedRoster(self.deployment.bucket, key, response.get("VersionId"))

    def find_dropped(self, dropped: DroppedRoster, district: str, since: str) -> dict | None:
        """The submission recorded for a roster put by ``submit``, once the validator saw it."""
        for item in self.queries.by_district(district, since=since):
            same_version = dropped.version_id in (None, item.get("version_id"))
            if item.get("key") == dropped.key and same_version:
                return item
        return None

    def release(self, submission_id: str, operator: str, force: bool = False) -> dict[str, Any]:
        """Sends a held submission: ON_HOLD -> VALIDATED, then queued for upload.

        Refused, unless ``force``, when a newer file of the district has been sent since: CERS
        would apply the held file after it and put older rosters back.
        """
        submission = self.get(submission_id)
        if submission["status"] == Status.ON_HOLD:
            if not force:
                self._refuse_over_newer(submission)
            self._step(submission, Status.ON_HOLD, Status.VALIDATED, released_by=operator)
        elif not _waiting_after(submission, Status.ON_HOLD):
            raise _wrong_status(submission, "released", Status.ON_HOLD)
        storage.queue_upload(
            self.deployment.upload_queue_url, submission_id, submission["district"]
        )
        return self.get(submission_id)

    def reject(self, submission_id: str, operator: str, note: str | None) -> dict[str, Any]:
        """Closes a held submission without sending it: ON_HOLD -> CANCELLED, no alert."""
        submission = self.get(submission_id)
        if submission["status"] != Status.ON_HOLD:
            raise _wrong_status(submission, "rejected", Status.ON_HOLD)
        fields = {"rejected_by": operator, **({"note": note} if note else {})}
        self._step(submission, Status.ON_HOLD, Status.CANCELLED, **fields)
        return self.get(submission_id)

    def resend(self, submission_id: str, operator: str) -> dict[str, Any]:
        """Forces a duplicate to be sent again: DUPLICATE -> VALIDATED, queued with ``force``."""
        submission = self.get(submission_id)
        if submission["status"] == Status.DUPLICATE:
            self._step(submission, Status.DUPLICATE, Status.VALIDATED, resent_by=operator)
        elif not _waiting_after(submission, Status.DUPLICATE):
            raise _wrong_status(submission, "sent again", Status.DUPLICATE)
        submission = self.get(submission_id)
        resends = [step["status"] for step in submission["history"]].count(Status.DUPLICATE)
        storage.queue_upload(
            self.deployment.upload_queue_url,
            submission_id,
            submission["district"],
            force=True,
            deduplication_id=f"{submission_id}-resend-{resends}",
        )
        return submission

    def _refuse_over_newer(self, submission: dict[str, Any]) -> None:
        later = self.queries.by_district(
            submission["district"], since=submission["created_at"], newest_first=False
        )
        for newer in later:
            if newer["created_at"] > submission["created_at"] and newer["status"] in SENT:
                raise WrongStatusError(
                    f"a newer file of {submission['district']} was sent since this one was held"
                    f" (submission {newer['submission_id']}, {newer['status']}): releasing"
                    " this one would put older rosters back in CERS. Reject it, or release it"
                    " anyway with --force"
                )

    def _step(self, submission: dict, expected: Status, to: Status, **fields: Any) -> None:
        if not self.store.advance(submission["submission_id"], expected, to, **fields):
            now = self.get(submission["submission_id"])
            raise WrongStatusError(
                f"submission {now['submission_id']} changed to {now['status']} meanwhile"
                " (another operator or the pipeline took it); see `cers-groups status"
                f" {now['submission_id']}`"
            )


def _waiting_after(submission: dict[str, Any], status: str) -> bool:
    """VALIDATED right after ``status``: an earlier action stepped it but may not have queued."""
    steps = [step["status"] for step in submission.get("history", [])]
    return submission["status"] == Status.VALIDATED and steps[-2:] == [status, Status.VALIDATED]


def _wrong_status(submission: dict[str, Any], action: str, needed: str) -> WrongStatusError:
    return WrongStatusError(
        f"submission {submission['submission_id']} is {submission['status']}, not {needed}:"
        f" only a submission in {needed} can be {action}"
    )


def utc_stamp(moment: datetime) -> str:
    """The table's time format (created_at, updated_at): ISO UTC with milliseconds and Z."""
    moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
