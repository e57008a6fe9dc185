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
the CERS stand-in over HTTP like the in-process handlers do.
"""

import json
import os
import signal
import subprocess  # noqa: S404 - runs this repository's own module with this interpreter
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from local_stack.lambda_runner import LambdaContext, sqs_event
from local_stack.observers import observe_this_process

ROOT = Path(__file__).resolve().parents[1]


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

    process: subprocess.Popen
    messages: list[dict]
    queue_url: str
    _result_file: Path = field(repr=False)

    @classmethod
    def start(cls, module: str, messages: list[dict], queue_url: str) -> "LambdaProcess":
        event = event_for(messages, queue_url)
        result = Path(tempfile.mkstemp(prefix="lambda-result-", suffix=".json")[1])
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "functions")]),
        }
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "-m", "local_stack.lambda_container", module, str(result)],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process.stdin.write(json.dumps(event).encode())
        process.stdin.close()
        return cls(process, messages, queue_url, result)

    def kill(self) -> None:
        """SIGKILL: the container is gone at once; nothing it had not written is written."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._result_file.unlink(missing_ok=True)

    def finish(self, timeout: float = 120.0, *, delete: bool = True) -> dict:
        """Wait for the handler's answer and, unless ``delete`` is False (the delete is lost),
        delete the messages it did not report as failed; its answer."""
        self.process.wait(timeout=timeout)
        text = self._result_file.read_text()
        self._result_file.unlink(missing_ok=True)
        answer = json.loads(text) if text else {"error": f"exit status {self.process.returncode}"}
        failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
        if delete and "error" not in answer:
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


def _main(module: str, result_path: str) -> None:
    """In the child: run the handler on the event from stdin; write its answer to the file."""
    observe_this_process()
    event = json.loads(sys.stdin.read())
    handler = import_module(module).lambda_handler
    name = module.rsplit(".", 1)[-1]
    try:
        answer = handler(event, LambdaContext(function_name=f"cers-groups-{name}")) or {}
    except Exception as error:  # noqa: BLE001 - Lambda reports any raise as a failed invocation
        answer = {"error": type(error).__name__}
    Path(result_path).write_text(json.dumps(answer))


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
