"""Moving messages from a dead-letter queue back to the queue they came from.

A message lands in a dead-letter queue when its handler failed on every delivery, for example
while the functions could not read their settings. Once the cause is fixed, moving it back
lets the pipeline pick the file up where it stopped; every step starts from the recorded
status, so a message that is moved back twice repeats nothing.

Messages are received, sent to the source queue in the order received and deleted once sent.
A FIFO message keeps its message group (its district), so a district's uploads stay in order,
and gets a deduplication id of its own: the original one may still be inside SQS's five-minute
deduplication window. Messages whose send failed stay in the dead-letter queue and come back
after its visibility timeout.
"""

from dataclasses import dataclass, field

import boto3

RECEIVE_BATCH = 10
HOLD_SECONDS = 60  # how long received messages stay invisible while they are moved
WAIT_SECONDS = 1


@dataclass
class Move:
    """What one redrive did: messages moved, and those left behind with SQS's reason."""

    source: str
    destination: str
    moved: int = 0
    failed: list[str] = field(default_factory=list)


def move_messages(dead_letter_url: str, destination_url: str, limit: int | None = None) -> Move:
    """Moves up to ``limit`` messages (all when None) from the dead-letter queue back."""
    sqs = boto3.client("sqs")
    fifo = destination_url.endswith(".fifo")
    move = Move(source=dead_letter_url, destination=destination_url)
    while (remaining := _remaining(limit, move)) > 0:
        wanted = min(RECEIVE_BATCH, remaining)
        messages = sqs.receive_message(
            QueueUrl=dead_letter_url,
            MaxNumberOfMessages=wanted,
            AttributeNames=["MessageGroupId"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=HOLD_SECONDS,
            WaitTimeSeconds=WAIT_SECONDS,
        ).get("Messages", [])
        if not messages:
            break
        _move_batch(sqs, messages, dead_letter_url, destination_url, fifo, move)
    return move


def _remaining(limit: int | None, move: Move) -> int:
    if limit is None:
        return RECEIVE_BATCH
    return limit - move.moved - len(move.failed)


def _move_batch(sqs, messages: list[dict], source: str, destination: str, fifo: bool, move: Move):
    entries = [_entry(number, message, fifo) for number, message in enumerate(messages)]
    response = sqs.send_message_batch(QueueUrl=destination, Entries=entries)
    for failure in response.get("Failed", []):
        move.failed.append(f"{failure.get('Code')}: {failure.get('Message', '')}".strip())

    sent = {int(success["Id"]) for success in response.get("Successful", [])}
    deletions = [
        {"Id": str(number), "ReceiptHandle": messages[number]["ReceiptHandle"]}
        for number in sorted(sent)
    ]
    if deletions:
        sqs.delete_message_batch(QueueUrl=source, Entries=deletions)
    move.moved += len(sent)


def _entry(number: int, message: dict, fifo: bool) -> dict:
    entry = {"Id": str(number), "MessageBody": message["Body"]}
    if message.get("MessageAttributes"):
        entry["MessageAttributes"] = {
            name: _attribute(value) for name, value in message["MessageAttributes"].items()
        }
    if fifo:
        entry["MessageGroupId"] = message["Attributes"]["MessageGroupId"]
        # Stable for this dead-lettered message: a retried move within five minutes is dropped.
        entry["MessageDeduplicationId"] = f"redrive-{message['MessageId']}"
    return entry


def _attribute(value: dict) -> dict:
    """A received message attribute as SendMessage takes it (no empty list values)."""
    return {name: part for name, part in value.items() if part not in ([], None)}
