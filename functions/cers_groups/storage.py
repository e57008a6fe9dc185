"""S3 and SQS adapters: reading dropped rosters, writing reports, queueing uploads."""

import json
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.response import StreamingBody


@dataclass(frozen=True)
class RosterObject:
    body: StreamingBody
    size: int
    version_id: str | None  # the version actually read; None only in an unversioned bucket


def open_roster(bucket: str, key: str, version_id: str | None) -> RosterObject:
    """A streaming body for one object version: the given one, or else the latest."""
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    response = boto3.client("s3").get_object(**request)
    return RosterObject(response["Body"], response["ContentLength"], response.get("VersionId"))


def put_report(bucket: str, key: str, document: dict[str, Any]) -> None:
    boto3.client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(document, indent=2).encode(),
        ContentType="application/json",
    )


def queue_upload(
    queue_url: str,
    submission_id: str,
    district: str,
    *,
    force: bool = False,
    deduplication_id: str | None = None,
) -> None:
    """One district's uploads share a FIFO message group, so they go to CERS one at a time.

    ``force`` asks the uploader to skip its duplicate check. A submission queued again within
    five minutes needs a ``deduplication_id`` of its own, or the FIFO queue drops the message.
    """
    body = {"submission_id": submission_id, **({"force": True} if force else {})}
    boto3.client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps(body),
        MessageGroupId=district,
        MessageDeduplicationId=deduplication_id or submission_id,
    )
