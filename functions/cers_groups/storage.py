"""S3 and SQS adapters: reading dropped rosters, reading and writing reports, queueing uploads."""

import json
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError
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


def put_text(bucket: str, key: str, text: str, content_type: str) -> None:
    boto3.client("s3").put_object(
        Bucket=bucket, Key=key, Body=text.encode(), ContentType=f"{content_type}; charset=utf-8"
    )


def get_report(bucket: str, key: str) -> dict[str, Any] | None:
    """A JSON report written by ``put_report``; None when there is none at ``key``."""
    try:
        response = boto3.client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    with response["Body"] as body:
        return json.loads(body.read())


def queue_upload(queue_url: str, submission_id: str, district: str) -> None:
    """One district's uploads share a FIFO message group, so they go to CERS one at a time."""
    boto3.client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps({"submission_id": submission_id}),
        MessageGroupId=district,
        MessageDeduplicationId=submission_id,
    )
