"""Submissions: one DynamoDB item per object dropped in the bucket, and its path to an end state.

Every change of status is a conditional write from an expected status, so two runs of a handler
on one event cannot both take the same step (for example, both send the file to CERS).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from cers_groups import aws_clients
from cers_groups.resources import (
    BY_DIGEST_INDEX,
    BY_DISTRICT_INDEX,
    PENDING_INDEX,
    SUBMISSION_EXPIRY,
    SUBMISSION_KEY,
)


class Status(StrEnum):
    RECEIVED = "RECEIVED"
    REJECTED = "REJECTED"
    INVALID = "INVALID"
    VALIDATED = "VALIDATED"
    SPLIT = "SPLIT"  # too big for one upload: sent as part submissions of its own
    UPLOADING = "UPLOADING"
    ON_HOLD = "ON_HOLD"
    ACCEPTED = "ACCEPTED"
    PROCESSED = "PROCESSED"
    BAD_DATA = "BAD_DATA"
    AUTH_FAILED = "AUTH_FAILED"
    UPLOAD_FAILED = "UPLOAD_FAILED"
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"  # an operator rejected a held submission; nothing was sent
    # The same bytes from the same district already reached PROCESSED: not sent again.
    DUPLICATE = "DUPLICATE"
    # Signed in, but the login may not write student groups at CERS.
    PERMISSION_DENIED = "PERMISSION_DENIED"
    # Held until the district's previous upload finishes at CERS (both are delete-and-replace).
    WAITING = "WAITING"
    # Sent, but CERS's answer was not seen; the poller looks the import up by batch.
    UNCONFIRMED = "UNCONFIRMED"
    # Still ACCEPTED at CERS past the deadline; the poller keeps following it.
    STUCK = "STUCK"
    # A newer version of the same file was already on its way to CERS: this one was not sent.
    SUPERSEDED = "SUPERSEDED"


# Statuses that need a person: each one sends one alert.
FAILURES = frozenset(
    {
        Status.REJECTED,
        Status.INVALID,
        Status.BAD_DATA,
        Status.AUTH_FAILED,
        Status.UPLOAD_FAILED,
        Status.OUTCOME_UNKNOWN,
        Status.ERROR,
        Status.PERMISSION_DENIED,
        Status.STUCK,
    }
)

# Statuses that wait on CERS or on a person; the sparse "pending" index lists them.
PENDING = frozenset(
    {Status.ACCEPTED, Status.ON_HOLD, Status.WAITING, Status.UNCONFIRMED, Status.STUCK}
)

# Statuses after which nothing more happens to a submission without a person.
FINAL = (FAILURES - PENDING) | {
    Status.PROCESSED,
    Status.DUPLICATE,
    Status.CANCELLED,
    Status.SUPERSEDED,
}

# How long a run may take between claiming an alert and recording that it was sent.
ALERT_CLAIM_TIMEOUT = timedelta(minutes=5)

# Only the problems' first lines live in the item; the full list is in the report object.
PROBLEMS_KEPT = 20


@dataclass(frozen=True)
class AlertMark:
    """The item attributes that record one kind of alert: claimed by a run, then sent."""

    claimed: str
    sent: str


# A failure's alert, and the alert that a submission was put on hold: a released submission
# that fails later still gets its failure alert.
FAILURE_ALERT = AlertMark("alert_claimed_at", "alerted_at")
HOLD_ALERT = AlertMark("hold_alert_claimed_at", "hold_alerted_at")


def now() -> str:
    return _stamp(datetime.now(UTC))


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SubmissionStore:
    """The submissions table. Items are plain dicts; their fields are documented in the README."""

    def __init__(self, table_name: str) -> None:
        self._table = aws_clients.table(table_name)

    def get(self, submission_id: str) -> dict[str, Any] | None:
        response = self._table.get_item(Key={SUBMISSION_KEY: submission_id}, ConsistentRead=True)
        return response.get("Item")

    def created_between(self, district: str, since: str, until: str) -> list[dict[str, Any]]:
        """A district's submissions created at or after ``since`` and before ``until`` (ISO UTC
        times), oldest first, from the by-district index."""
        in_window = Key(BY_DISTRICT_INDEX.sort_key).between(since, until)
        items = self._query(
            BY_DISTRICT_INDEX.name, BY_DISTRICT_INDEX.partition_key, district, in_window
        )
        return [item for item in items if item["created_at"] < until]

    def create(self, submission_id: str, *, ttl_days: int | None = None, **fields: Any) -> bool:
        """Record a new submission as RECEIVED; False when it already exists.

        With ``ttl_days``, the item expires that many days after its creation (DynamoDB TTL).
        """
        created = datetime.now(UTC)
        stamp = _stamp(created)
        expiry = {SUBMISSION_EXPIRY: expires_at(created, ttl_days)} if ttl_days else {}
        item = {
            SUBMISSION_KEY: submission_id,
            **fields,
            **expiry,
            "status": Status.RECEIVED.value,
            "created_at": stamp,
            "updated_at": stamp,
            "history": [{"status": Status.RECEIVED.value, "at": stamp}],
        }
        try:
            self._table.put_item(Item=item, ConditionExpression=Attr(SUBMISSION_KEY).not_exists())
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def advance(
        self,
        submission_id: str,
        expected: Status,
        to: Status,
        *,
        clear: tuple[str, ...] = (),
        **fields: Any,
    ) -> bool:
        """Move a submission from ``expected`` to ``to``; False when it was not in ``expected``.

        The step is appended to the item's ``history`` with its time; ``clear`` names
        attributes to remove in the same write.
        """
        stamp = now()
        fields = {**fields, "status": to.value, "updated_at": stamp}
        if to in PENDING:
            fields[PENDING_INDEX.partition_key] = to.value
        assignments, names, values = _assignments(fields)
        values.update({":step": [{"status": to.value, "at": stamp}], ":expected": expected.value})
        # Leaving a pending status takes the item out of the sparse "pending" index.
        removed = [*clear, *(() if to in PENDING else (PENDING_INDEX.partition_key,))]
        removal = f" REMOVE {', '.join(removed)}" if removed else ""
        try:
            self._table.update_item(
                Key={SUBMISSION_KEY: submission_id},
                UpdateExpression=(
                    f"SET {assignments}, #history = list_append(#history, :step){removal}"
                ),
                ConditionExpression="#status_now = :expected",
                ExpressionAttributeNames={**names, "#status_now": "status", "#history": "history"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def claim_alert(
        self,
        submission_id: str,
        stale_after: timedelta = ALERT_CLAIM_TIMEOUT,
        mark: AlertMark = FAILURE_ALERT,
    ) -> bool:
        """Let exactly one run send the submission's alert of the kind ``mark`` records.

        A claim that was never followed by ``mark_alerted`` (the run died before publishing)
        goes stale after ``stale_after`` and can be taken again, so the alert is not lost.
        """
        stamp = datetime.now(UTC)
        stale = (stamp - stale_after).isoformat()
        try:
            self._table.update_item(
                Key={SUBMISSION_KEY: submission_id},
                UpdateExpression="SET #claimed = :now",
                ConditionExpression=(
                    "attribute_not_exists(#sent) AND "
                    "(attribute_not_exists(#claimed) OR #claimed < :stale)"
                ),
                ExpressionAttributeNames={"#claimed": mark.claimed, "#sent": mark.sent},
                ExpressionAttributeValues={":now": stamp.isoformat(), ":stale": stale},
            )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def pending(self, status: Status) -> list[dict[str, Any]]:
        """Every submission waiting in ``status`` (one of ``PENDING``), oldest change first."""
        return self._query(PENDING_INDEX.name, PENDING_INDEX.partition_key, status.value)

    def same_bytes(self, district: str, digest: str) -> list[dict[str, Any]]:
        """Every submission of these exact bytes by this district, oldest first."""
        key = digest_key(district, digest)
        return self._query(BY_DIGEST_INDEX.name, BY_DIGEST_INDEX.partition_key, key)

    def recent(self, district: str, since: str) -> list[dict[str, Any]]:
        """The district's submissions created at or after ``since`` (an ISO time), oldest first."""
        return self._query(
            BY_DISTRICT_INDEX.name,
            BY_DISTRICT_INDEX.partition_key,
            district,
            Key(BY_DISTRICT_INDEX.sort_key).gte(since),
        )

    def _query(self, index: str, key: str, value: str, extra=None) -> list[dict[str, Any]]:
        condition = Key(key).eq(value) if extra is None else Key(key).eq(value) & extra
        request = {"IndexName": index, "KeyConditionExpression": condition}
        items: list[dict[str, Any]] = []
        while True:
            response = self._table.query(**request)
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def mark_alerted(self, submission_id: str, mark: AlertMark = FAILURE_ALERT) -> None:
        self._table.update_item(
            Key={SUBMISSION_KEY: submission_id},
            UpdateExpression="SET #sent = :at",
            ExpressionAttributeNames={"#sent": mark.sent},
            ExpressionAttributeValues={":at": now()},
        )


def expires_at(created: datetime, ttl_days: int) -> int:
    """The epoch second from which DynamoDB may delete an item created at ``created``."""
    return int((created + timedelta(days=ttl_days)).timestamp())


def digest_key(district: str, digest: str) -> str:
    """The by-digest index key: the same bytes from the same district."""
    return f"{district}#{digest}"


def needs_alert(submission: dict[str, Any]) -> bool:
    return submission.get("status") in FAILURES and "alerted_at" not in submission


def _assignments(fields: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A DynamoDB SET clause for ``fields``, with placeholder names and values."""
    names = {f"#f{index}": name for index, name in enumerate(fields)}
    values = {f":v{index}": value for index, value in enumerate(fields.values())}
    clause = ", ".join(f"#f{index} = :v{index}" for index in range(len(fields)))
    return clause, names, values


def _condition_failed(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"
