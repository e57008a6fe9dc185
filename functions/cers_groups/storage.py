"""S3 and SQS adapters: reading dropped rosters, writing reports, queueing uploads."""

import json
from collections.abc import Iterable
from typing import Any

import boto3
from botocore.response import StreamingBody

from cers_groups.roster_report import TextChunks


def open_roster(bucket: str, key: str, version_id: str | None) -> tuple[StreamingBody, int]:
    """A streaming body for exactly the object version that was dropped, and its size."""
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    response = boto3.client("s3").get_object(**request)
    return response["Body"], response["ContentLength"]


def put_report(bucket: str, key: str, document: dict[str, Any]) -> None:
    boto3.client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(document, indent=2).encode(),
        ContentType="application/json",
    )


def put_file(bucket: str, key: str, path: str, content_type: str = "text/csv") -> str | None:
    """Uploads a local file; the new object's VersionId (None when versioning is off)."""
    with open(path, "rb") as body:
        response = boto3.client("s3").put_object(
            Bucket=bucket, Key=key, Body=body, ContentType=content_type
        )
    return response.get("VersionId")


def put_report_stream(bucket: str, key: str, pieces: Iterable[str]) -> None:
    """Writes a report produced piece by piece, without holding it in memory."""
    boto3.client("s3").upload_fileobj(
        TextChunks(pieces), bucket, key, ExtraArgs={"ContentType": "application/json"}
    )


def queue_upload(queue_url: str, submission_id: str, district: str) -> None:
    """One district's uploads share a FIFO message group, so they go to CERS one at a time."""
    boto3.client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps({"submission_id": submission_id}),
        MessageGroupId=district,
        MessageDeduplicationId=submission_id,
    )
