"""A handler run in a child process, as one Lambda container, so a test can really kill it.

The test process plays Lambda's SQS event source mapping: it receives messages, hands the event
to a child Python process that imports the real handler and runs it, and deletes the messages
the handler did not report as failed. A child killed with SIGKILL deletes nothing and records
nothing more, exactly as a container that dies mid-invocation; its messages come back after
their visibility timeout::

    messages = receive(queue_url, visibility=60)
    container = LambdaProcess.start("cers_groups.handlers.uploader", messages, queue_url)
    ...
    container.kill()

The child inherits the test's environment, so it talks to moto's server, the Cognito proxy and
the CERS stand-in over HTTP like the in-process handlers do. The child is the one
local_stack.lambda_process runs.
"""

import signal
from dataclasses import dataclass

import boto3
from botocore.exceptions import ClientError

from local_stack.lambda_process import ChildInvocation, start_invocation
from local_stack.lambda_runner import sqs_event


def receive(queue_url: str, *, visibility: int | None = None, batch_size: int = 1) -> list[dict]:
    """Messages received as the event source mapping receives them (``visibility``: seconds
    they stay hidden, else the queue's own timeout); an empty list when none is visible."""
    request = {
        "QueueUrl": queue_url,
        "MaxNumberOfMessages": batch_size,
        "AttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
        "WaitTimeSeconds": 0,
    }
    if visibility is not None:
        request["VisibilityTimeout"] = visibility
    return boto3.client("sqs").receive_message(**request).get("Messages", [])


def event_for(messages: list[dict], queue_url: str) -> dict:
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return sqs_event(messages, arn["Attributes"]["QueueArn"], sqs.meta.region_name)


@dataclass
class LambdaProcess:
    """One invocation of ``module.lambda_handler`` in its own Python process."""

    child: ChildInvocation
    messages: list[dict]
    queue_url: str

    @classmethod
    def start(cls, module: str, messages: list[dict], queue_url: str) -> "LambdaProcess":
        name = f"cers-groups-{module.rsplit('.', 1)[-1]}"
        child = start_invocation(module, name, event_for(messages, queue_url))
        return cls(child, messages, queue_url)

    @property
    def process(self):
        return self.child.process

    def kill(self) -> None:
        """SIGKILL: the container is gone at once; nothing it had not written is written."""
        self.child.process.send_signal(signal.SIGKILL)
        self.child.process.wait(timeout=30)
        self.child.answer()  # only to remove its files

    def finish(self, timeout: float = 120.0, *, delete: bool = True) -> dict:
        """Wait for the handler's answer and, unless ``delete`` is False (the delete is lost),
        delete the messages it did not report as failed; its answer, or ``{"error": ...}``
        when the handler raised (Lambda then deletes nothing)."""
        self.child.process.wait(timeout=timeout)
        written = self.child.answer()
        if written is None:
            return {"error": f"exit status {self.child.process.returncode}"}
        answer = written["response"] or {}
        failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
        if delete:
            for message in self.messages:
                if message["MessageId"] not in failed:
                    _delete(self.queue_url, message["ReceiptHandle"])
        return answer


def _delete(queue_url: str, receipt_handle: str) -> None:
    """Delete as the event source mapping does; a receipt handle outdated by a later receive
    of the same message is refused, and then the message simply comes back (at-least-once)."""
    try:
        boto3.client("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=receipt_handle)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ReceiptHandleIsInvalid":
            raise
