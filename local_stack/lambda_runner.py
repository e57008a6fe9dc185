"""Run the real handlers the way Lambda's SQS event source mapping does, against local queues.

Messages are received from moto's SQS, turned into the event shape Lambda delivers, passed to
the handler, and deleted unless the handler reported them in ``batchItemFailures``; failed ones
become visible again after the queue's visibility timeout, as in AWS.
"""

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import boto3

Handler = Callable[[dict, object], dict]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@dataclass(frozen=True)
class QueueConsumer:
    queue_url: str
    handler: Handler
    function_name: str
    batch_size: int = 10


def poll_once(consumer: QueueConsumer) -> int:
    """Deliver one batch to the handler; the number of messages delivered."""
    sqs = boto3.client("sqs")
    received = sqs.receive_message(
        QueueUrl=consumer.queue_url,
        MaxNumberOfMessages=consumer.batch_size,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        WaitTimeSeconds=0,
    ).get("Messages", [])
    if not received:
        return 0

    event = sqs_event(received, _queue_arn(consumer.queue_url), sqs.meta.region_name)
    context = LambdaContext(function_name=consumer.function_name)
    try:
        response = consumer.handler(event, context) or {}
    except Exception:  # noqa: BLE001 - Lambda treats any raise as a failed batch
        return len(received)

    failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    for message in received:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=consumer.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return len(received)


def run_until_idle(consumers: list[QueueConsumer], timeout: float = 90.0) -> None:
    """Poll every queue until all are empty (nothing waiting, nothing in flight)."""
    deadline = time.monotonic() + timeout
    idle_seen = False
    while time.monotonic() < deadline:
        delivered = sum(poll_once(consumer) for consumer in consumers)
        idle = delivered == 0 and all(_is_empty(c.queue_url) for c in consumers)
        if idle and idle_seen:
            return
        # Empty twice in a row, 0.2 s apart: a message coming back from a failed try (or a
        # count moto has not caught up with yet) is not mistaken for the end.
        idle_seen = idle
        if delivered == 0:
            time.sleep(0.2)
    raise TimeoutError(f"queues still busy after {timeout:.0f} s")


def scheduled_event() -> dict:
    """The event an EventBridge schedule sends to the poller."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": os.environ.get("AWS_REGION", "us-west-2"),
        "resources": ["arn:aws:events:us-west-2:123456789012:rule/cers-groups-poller"],
        "detail": {},
    }


def sqs_event(messages: list[dict], queue_arn: str, region: str) -> dict:
    return {"Records": [_sqs_record(message, queue_arn, region) for message in messages]}


def _sqs_record(message: dict, queue_arn: str, region: str) -> dict:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: _lambda_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _lambda_attribute(value: dict) -> dict:
    """SQS's ReceiveMessage attribute shape, in the camel case Lambda's event uses."""
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": value.get("BinaryValue"),
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": value.get("BinaryListValues", []),
        "dataType": value["DataType"],
    }


def _queue_arn(queue_url: str) -> str:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )
    return attributes["Attributes"]["QueueArn"]


def _is_empty(queue_url: str) -> bool:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(int(value) == 0 for value in attributes.values())
