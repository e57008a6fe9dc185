"""Reading S3 event notifications that arrive through SQS."""

import hashlib
import json
from dataclasses import dataclass
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event

from cers_groups.observability import logger


@dataclass(frozen=True)
class DroppedObject:
    """One object that landed in the roster bucket."""

    bucket: str
    key: str
    size: int | None  # None only when the event did not say
    version_id: str | None
    sequencer: str
    etag: str
    event_time: str

    @property
    def submission_id(self) -> str:
        """The same object version always maps to the same submission, whatever the retries.

        A readable UTC time of the drop, then a hash of where the object lives and which
        version of it this is.
        """
        version = self.version_id or self.sequencer or f"{self.etag}@{self.event_time}"
        identity = f"{self.bucket}/{self.key}#{version}"
        digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
        stamp = "".join(ch for ch in self.event_time[:19] if ch.isdigit())
        return f"{stamp[:8]}T{stamp[8:]}Z-{digest}"


def file_name(key: str) -> str:
    """The object's base name: what CERS records as the import's batch."""
    return key.rsplit("/", 1)[-1]


def dropped_objects(notification_body: str, *, log_skipped: bool = True) -> list[DroppedObject]:
    """The created objects in one S3 notification, skipping test events and folder markers
    (each logged, unless ``log_skipped`` is False: a first look at a notification that is
    handled, and logged, later).

    S3 sends keys URL-encoded with ``+`` for a space, so ``%2B`` is a literal plus.
    """
    notification = json.loads(notification_body)
    if notification.get("Event") == "s3:TestEvent" or "Records" not in notification:
        return []
    objects = [_dropped_object(record) for record in S3Event(notification).records]
    for item in objects if log_skipped else ():
        if not item.key or item.key.endswith("/"):
            logger.info("Folder marker skipped", key=item.key, size=item.size)
    return [item for item in objects if item.key and not item.key.endswith("/")]


def _dropped_object(record) -> DroppedObject:
    s3_object = record.s3.get_object
    return DroppedObject(
        bucket=record.s3.bucket.name,
        key=unquote_plus(s3_object.key),
        size=s3_object.get("size"),
        version_id=s3_object.version_id,
        sequencer=s3_object.get("sequencer", ""),
        etag=s3_object.etag,
        event_time=record.event_time,
    )
