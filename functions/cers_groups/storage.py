"""S3 and SQS adapters: reading dropped rosters, reading and writing reports, queueing uploads."""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from cers_groups import aws_clients
from cers_groups.roster_report import TextChunks

MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404"})


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
    response = aws_clients.client("s3").get_object(**request)
    return RosterObject(response["Body"], response["ContentLength"], response.get("VersionId"))


def object_size(bucket: str, key: str, version_id: str | None) -> int:
    """An object version's size in bytes, from a HeadObject (the body is not read)."""
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    return aws_clients.client("s3").head_object(**request)["ContentLength"]


def put_report(bucket: str, key: str, document: dict[str, Any]) -> None:
    aws_clients.client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(document, indent=2).encode(),
        ContentType="application/json",
    )


def put_text(bucket: str, key: str, text: str, content_type: str) -> None:
    aws_clients.client("s3").put_object(
        Bucket=bucket, Key=key, Body=text.encode(), ContentType=f"{content_type}; charset=utf-8"
    )


def get_report(bucket: str, key: str) -> dict[str, Any] | None:
    """A JSON document written by ``put_report``; None when there is no such object."""
    try:
        response = aws_clients.client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_missing_object(error):
            return None
        raise
    with response["Body"] as body:
        return json.loads(body.read())


def is_missing_object(error: Exception) -> bool:
    """True for S3's answer that the object or version does not exist."""
    return (
        isinstance(error, ClientError) and error.response["Error"]["Code"] in MISSING_OBJECT_CODES
    )


def put_file(bucket: str, key: str, path: str, content_type: str = "text/csv") -> str | None:
    """Uploads a local file; the new object's VersionId (None when versioning is off)."""
    with open(path, "rb") as body:
        response = aws_clients.client("s3").put_object(
            Bucket=bucket, Key=key, Body=body, ContentType=content_type
        )
    return response.get("VersionId")


def put_report_stream(bucket: str, key: str, pieces: Iterable[str]) -> None:
    """Writes a report produced piece by piece, without holding it in memory."""
    aws_clients.client("s3").upload_fileobj(
        TextChunks(pieces), bucket, key, ExtraArgs={"ContentType": "application/json"}
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
    aws_clients.client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps(body),
        MessageGroupId=district,
        MessageDeduplicationId=deduplication_id or submission_id,
    )
