"""Chaos on the local stack: killed containers, duplicate and overlapping deliveries, DynamoDB
throttling and a credential rotated mid-run.

Every fault is put on the wire or on a process: a handler run in a child process is killed with
SIGKILL (local_stack.lambda_container), SQS messages come back after their visibility timeout,
DynamoDB answers through a throttling proxy (local_stack.fault_proxy), the CERS stand-in holds or
refuses requests, and Cognito and Secrets Manager are changed through their APIs. Each test ends
by checking that every submission is in a recorded state with a coherent history, that CERS got
at most one POST per file and that at most one alert went out per failed file.
"""

import hashlib
import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from cers_groups.resources import TOKEN_KEY
from cers_groups.settings import DEADLINE_ENV
from local_stack.cers_standin import Fault
from local_stack.fault_proxy import DynamoDBFaultProxy
from local_stack.lambda_container import LambdaProcess, receive
from local_stack.stack import local_stack

HEADER = "group_name,school_natural_id,school_year,subject_code,student_ssid,group_user_login"
SCHOOL = "99123450111111"
UPLOADER = "cers_groups.handlers.uploader"
VALIDATOR = "cers_groups.handlers.validator"
# Statuses a test may end with: recorded outcomes, or pending ones the poller follows.
SETTLED = {
    "INVALID",
    "REJECTED",
    "ACCEPTED",
    "PROCESSED",
    "BAD_DATA",
    "AUTH_FAILED",
    "UPLOAD_FAILED",
    "OUTCOME_UNKNOWN",
    "ERROR",
    "DUPLICATE",
    "PERMISSION_DENIED",
    "WAITING",
    "UNCONFIRMED",
    "STUCK",
    "SUPERSEDED",
}
# The steps a submission's history may take, from each status.
STEPS = {
    "RECEIVED": {"VALIDATED", "INVALID", "REJECTED", "SPLIT", "ERROR"},
    "VALIDATED": {
        "VALIDATED",
        "UPLOADING",
        "WAITING",
        "ON_HOLD",
        "DUPLICATE",
        "AUTH_FAILED",
        "UPLOAD_FAILED",
        "PERMISSION_DENIED",
        "ERROR",
        "SUPERSEDED",
    },
    "WAITING": {"VALIDATED"},
    "ON_HOLD": {"VALIDATED", "CANCELLED"},
    "UPLOADING": {
        "VALIDATED",
        "ACCEPTED",
        "PROCESSED",
        "BAD_DATA",
        "DUPLICATE",
        "UNCONFIRMED",
        "AUTH_FAILED",
        "UPLOAD_FAILED",
        "PERMISSION_DENIED",
        "OUTCOME_UNKNOWN",
    },
    "UNCONFIRMED": {"ACCEPTED", "PROCESSED", "BAD_DATA", "DUPLICATE", "OUTCOME_UNKNOWN"},
    "ACCEPTED": {"PROCESSED", "BAD_DATA", "STUCK"},
    "STUCK": {"PROCESSED", "BAD_DATA"},
}
FAILED = {
    "INVALID",
    "REJECTED",
    "BAD_DATA",
    "AUTH_FAILED",
    "UPLOAD_FAILED",
    "OUTCOME_UNKNOWN",
    "ERROR",
    "PERMISSION_DENIED",
    "STUCK",
}


@pytest.fixture
def stack():
    with local_stack() as running:
        yield running


@pytest.fixture
def processing_stack():
    """CERS finishes each accepted import 50 ms after answering."""
    with local_stack(processing_delay=0.05) as running:
        yield running


def roster(
    tmp_path: Path, name: str, group: str = "Gr4_Math_Rm7", students: int = 3, first: int = 1
) -> Path:
    """A valid roster of one group; ``first`` numbers its first student."""
    rows = [HEADER] + [
        f"{group},{SCHOOL},2027,Math,{1000000000 + number},t{number}@sampleusd.example.org"
        for number in range(first, first + students)
    ]
    path = tmp_path / name
    path.write_text("\r\n".join(rows) + "\r\n")
    return path


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest().upper()


def posts(stack) -> list[int]:
    return [post.http_status for post in stack.standin.received]


def by_name(stack) -> dict[str, dict]:
    return {item["key"].rsplit("/", 1)[-1]: item for item in stack.submissions()}


def steps(submission: dict) -> list[str]:
    return [step["status"] for step in submission["history"]]


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until true; a wait for a process, not a timing assert."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"still waiting for {what}")
        time.sleep(0.05)


def status_of(stack, name: str) -> str | None:
    return by_name(stack).get(name, {}).get("status")


def assert_consistent(stack, dropped: int, *, emails: list[dict]) -> None:
    """Every dropped file has one submission in a recorded state, reached by allowed steps (a
    file is claimed again only after it went back to VALIDATED unsent); CERS got at most one
    POST per batch; every failed file alerted exactly once and nothing else did; no message is
    dead."""
    submissions = stack.submissions()
    assert len(submissions) == dropped
    for submission in submissions:
        history = steps(submission)
        assert submission["status"] in SETTLED, history
        assert history[0] == "RECEIVED" and history[-1] == submission["status"], history
        for before, after in zip(history, history[1:], strict=False):
            assert after in STEPS.get(before, set()), history
        stamps = [step["at"] for step in submission["history"]]
        assert stamps == sorted(stamps)

    batches = Counter(post.batch for post in stack.standin.received)
    assert all(count == 1 for count in batches.values()), batches
    failed = sorted(item["key"] for item in submissions if item["status"] in FAILED)
    assert len(emails) == len(failed)
    # Sent and recorded, or (when recording it failed) at least claimed, so not sent again.
    alerts = ("alerted_at", "alert_claimed_at")
    assert all(
        any(mark in item for mark in alerts) for item in submissions if item["status"] in FAILED
    )

    sqs = boto3.client("sqs")
    for queue in (stack.resources.validate_dlq_url, stack.resources.upload_dlq_url):
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
        )
        assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"


def make_visible(queue_url: str, messages: list[dict]) -> None:
    """What the visibility timeout running out does to messages whose handler died."""
    sqs = boto3.client("sqs")
    for message in messages:
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )


# --- 1. the uploader killed between the POST and the record ---------------------------------


def test_chaos_uploader_killed_after_the_post_never_posts_again(stack, tmp_path):
    stack.drop(roster(tmp_path, "class.csv"))
    stack.drain_validation()
    # CERS keeps the import and holds its answer until the test is done with the container.
    stack.standin.inject(Fault("slow", seconds=120))
    queue = stack.resources.upload_queue_url
    messages = receive(queue, visibility=120)
    container = LambdaProcess.start(UPLOADER, messages, queue)

    wait_for(lambda: len(stack.standin.received) == 1, "the POST to reach CERS")
    container.kill()

    assert container.process.returncode == -9
    assert status_of(stack, "class.csv") == "UPLOADING"  # the answer was never recorded
    assert stack.standin.imports[0].batch == by_name(stack)["class.csv"]["batch"]
    make_visible(queue, messages)
    stack.run()
    assert status_of(stack, "class.csv") == "ACCEPTED"
    stack.standin.process(1)
    stack.run()

    submission = by_name(stack)["class.csv"]
    assert submission["status"] == "PROCESSED"
    assert submission["cers_import_id"] == 1
    assert steps(submission) == ["RECEIVED", "VALIDATED", "UPLOADING", "ACCEPTED", "PROCESSED"]
    assert posts(stack) == [202]
    assert_consistent(stack, 1, emails=stack.alert_emails())


# --- 2. duplicate S3 events ------------------------------------------------------------------


def notification(queue_url: str, visibility: int = 120) -> dict:
    """The next S3 object notification on the validate queue (S3's test event is dropped)."""
    sqs = boto3.client("sqs")
    while True:
        [message] = receive(queue_url, visibility=visibility)
        if "Records" in json.loads(message["Body"]):
            return message
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def deliver_again(queue_url: str, message: dict, times: int) -> None:
    """S3 delivers a notification at least once: the same body again, ``times`` more times."""
    for _ in range(times):
        boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=message["Body"])


def test_chaos_same_notification_three_times_posts_once(processing_stack, tmp_path):
    stack = processing_stack
    stack.drop(roster(tmp_path, "class.csv"))
    queue = stack.resources.validate_queue_url
    first = notification(queue)
    deliver_again(queue, first, times=2)
    make_visible(queue, [first])

    stack.run()

    [submission] = stack.submissions()
    assert submission["status"] == "PROCESSED"
    assert steps(submission) == ["RECEIVED", "VALIDATED", "UPLOADING", "ACCEPTED", "PROCESSED"]
    assert posts(stack) == [202]
    assert_consistent(stack, 1, emails=stack.alert_emails())


def test_chaos_same_notification_to_two_validators_at_once_posts_once(stack, tmp_path):
    stack.drop(roster(tmp_path, "class.csv"))
    queue = stack.resources.validate_queue_url
    original = notification(queue)
    deliver_again(queue, original, times=1)
    again = notification(queue)
    assert again["Body"] == original["Body"]

    first = LambdaProcess.start(VALIDATOR, [original], queue)
    second = LambdaProcess.start(VALIDATOR, [again], queue)
    answers = [first.finish(), second.finish()]
    stack.run()

    assert answers == [{"batchItemFailures": []}] * 2
    [submission] = stack.submissions()
    assert submission["status"] == "ACCEPTED"
    assert steps(submission) == ["RECEIVED", "VALIDATED", "UPLOADING", "ACCEPTED"]
    assert posts(stack) == [202]
    assert_consistent(stack, 1, emails=stack.alert_emails())


def test_chaos_invalid_file_to_two_validators_at_once_alerts_once(stack, tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("group_name,school_natural_id\r\nGr4,123\r\n")
    stack.drop(path)
    queue = stack.resources.validate_queue_url
    original = notification(queue)
    deliver_again(queue, original, times=1)
    again = notification(queue)

    containers = [LambdaProcess.start(VALIDATOR, [m], queue) for m in (original, again)]
    for container in containers:
        container.finish()
    stack.run()

    [submission] = stack.submissions()
    assert steps(submission) == ["RECEIVED", "INVALID"]
    assert posts(stack) == []
    emails = stack.alert_emails()
    assert len(emails) == 1
    assert_consistent(stack, 1, emails=emails)


def as_s3_sends_it(message: dict, version_id: str, sequencer: str) -> dict:
    """The notification with the object's ``versionId`` and ``sequencer``, which S3 includes
    for a versioned bucket and moto's notifications leave out."""
    body = json.loads(message["Body"])
    body["Records"][0]["s3"]["object"].update(versionId=version_id, sequencer=sequencer)
    return {**message, "Body": json.dumps(body)}


def test_chaos_overwrite_notified_before_the_original_is_the_one_cers_keeps(
    processing_stack, tmp_path
):
    stack = processing_stack
    s3, queue = boto3.client("s3"), stack.resources.validate_queue_url
    key = f"{stack.folder}class.csv"
    monday = roster(tmp_path, "monday.csv").read_bytes()
    tuesday = roster(tmp_path, "tuesday.csv", first=2).read_bytes()
    first = s3.put_object(Bucket=stack.resources.bucket, Key=key, Body=monday)["VersionId"]
    original = as_s3_sends_it(notification(queue), first, "0062F0A1B2C3D4E5F6")
    second = s3.put_object(Bucket=stack.resources.bucket, Key=key, Body=tuesday)["VersionId"]
    overwrite = as_s3_sends_it(notification(queue), second, "0062F0A1B2C3D4E5F7")

    # The overwrite's notification is handled first; the original's comes late, three times.
    boto3.client("sqs").delete_message(QueueUrl=queue, ReceiptHandle=original["ReceiptHandle"])
    LambdaProcess.start(VALIDATOR, [overwrite], queue).finish()
    stack.run()
    deliver_again(queue, original, times=3)
    stack.run()

    submissions = {item["version_id"]: item for item in stack.submissions()}
    assert set(submissions) == {first, second}
    assert submissions[second]["status"] == "PROCESSED"
    assert submissions[first]["status"] == "SUPERSEDED"
    assert steps(submissions[first]) == ["RECEIVED", "VALIDATED", "SUPERSEDED"]
    [post] = stack.standin.received
    assert post.digest == md5(tuesday)
    assert_consistent(stack, 2, emails=stack.alert_emails())


def test_chaos_overwrite_notified_in_order_sends_both_versions_in_order(processing_stack, tmp_path):
    stack = processing_stack
    s3, queue = boto3.client("s3"), stack.resources.validate_queue_url
    key = f"{stack.folder}class.csv"
    monday = roster(tmp_path, "monday.csv").read_bytes()
    tuesday = roster(tmp_path, "tuesday.csv", first=2).read_bytes()
    first = s3.put_object(Bucket=stack.resources.bucket, Key=key, Body=monday)["VersionId"]
    original = as_s3_sends_it(notification(queue), first, "0062F0A1B2C3D4E5F6")
    boto3.client("sqs").delete_message(QueueUrl=queue, ReceiptHandle=original["ReceiptHandle"])
    deliver_again(queue, original, times=2)
    stack.run()
    second = s3.put_object(Bucket=stack.resources.bucket, Key=key, Body=tuesday)["VersionId"]
    overwrite = as_s3_sends_it(notification(queue), second, "0062F0A1B2C3D4E5F7")
    boto3.client("sqs").delete_message(QueueUrl=queue, ReceiptHandle=overwrite["ReceiptHandle"])
    deliver_again(queue, overwrite, times=2)
    stack.run()

    submissions = {item["version_id"]: item for item in stack.submissions()}
    assert (submissions[first]["status"], submissions[second]["status"]) == (
        "PROCESSED",
        "PROCESSED",
    )
    assert [post.digest for post in stack.standin.received] == [md5(monday), md5(tuesday)]
    assert_consistent(stack, 2, emails=stack.alert_emails())


# --- 3. DynamoDB throttling ------------------------------------------------------------------


@pytest.fixture
def throttled(processing_stack, monkeypatch):
    """The processing stack with its DynamoDB calls going through the throttling proxy."""
    proxy = DynamoDBFaultProxy(processing_stack.endpoint_url, seed=7)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.start())
    try:
        yield processing_stack, proxy
    finally:
        proxy.stop()


def moves(expected: str, to: str):
    """Matches the conditional write that moves a submission from ``expected`` to ``to``."""

    def matches(body: dict) -> bool:
        values = body.get("ExpressionAttributeValues", {})
        return values.get(":expected") == {"S": expected} and {"S": to} in values.values()

    return matches


def creates_submission(body: dict) -> bool:
    return "submission_id" in body.get("Item", {})


def run_while_throttled(stack, runs: int = 10) -> None:
    """Deliver and poll until a poller run changes nothing. A poller run that fails on a
    throttled call is what a failed scheduled invocation is: the next one comes."""
    for _ in range(runs):
        stack.drain()
        try:
            result = stack.poll()
        except ClientError:
            continue
        if result["changed"] + result["released"] == 0:
            return


def test_chaos_dynamodb_throttling_a_fifth_of_requests_loses_and_repeats_nothing(
    throttled, tmp_path
):
    stack, proxy = throttled
    proxy.throttle_share(0.2)
    for number in range(3):
        stack.drop(roster(tmp_path, f"class-{number}.csv", group=f"Group_{number}"))

    run_while_throttled(stack)
    proxy.clear_faults()
    stack.run()  # what is still pending, the poller finishes

    assert proxy.faults_served() >= 10
    assert {item["status"] for item in stack.submissions()} == {"PROCESSED"}
    assert posts(stack) == [202, 202, 202]
    assert_consistent(stack, 3, emails=stack.alert_emails())


def test_chaos_accepted_record_throttled_past_retries_is_found_by_batch(
    throttled, tmp_path, monkeypatch
):
    stack, proxy = throttled
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # botocore's own tries per call
    proxy.inject(
        "throughput", times=2, operation="UpdateItem", where=moves("UPLOADING", "ACCEPTED")
    )
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    assert proxy.faults_served("UpdateItem") == 2
    [submission] = stack.submissions()
    assert submission["status"] == "PROCESSED"
    # The next delivery finds the import by its batch, accepted or already processed by then.
    assert steps(submission)[:3] == ["RECEIVED", "VALIDATED", "UPLOADING"]
    assert "UNCONFIRMED" not in steps(submission)
    assert posts(stack) == [202]
    assert_consistent(stack, 1, emails=stack.alert_emails())


def test_chaos_submission_create_throttled_past_retries_is_redelivered(
    throttled, tmp_path, monkeypatch
):
    stack, proxy = throttled
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    proxy.inject("throttling", times=2, operation="PutItem", where=creates_submission)
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    assert proxy.faults_served("PutItem") == 2
    [submission] = stack.submissions()
    assert submission["status"] == "PROCESSED"
    assert posts(stack) == [202]
    assert_consistent(stack, 1, emails=stack.alert_emails())


def test_chaos_token_read_throttled_after_the_claim_is_sent_on_the_next_delivery(
    throttled, tmp_path, monkeypatch
):
    stack, proxy = throttled
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    claimed = []

    def reads_tokens_after_the_claim(body: dict) -> bool:
        if moves("VALIDATED", "UPLOADING")(body):
            claimed.append(True)
        return bool(claimed) and body.get("TableName") == stack.resources.tokens_table

    # Between the claim and the POST the uploader reads the district's tokens; that read fails.
    proxy.inject("throughput", times=2, where=reads_tokens_after_the_claim)
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    assert proxy.faults_served("GetItem") == 2
    [submission] = stack.submissions()
    assert submission["status"] == "PROCESSED"
    assert steps(submission)[:5] == ["RECEIVED", "VALIDATED", "UPLOADING", "VALIDATED", "UPLOADING"]
    assert posts(stack) == [202]
    assert_consistent(stack, 1, emails=stack.alert_emails())


def test_chaos_claim_throttled_on_every_delivery_ends_in_error_with_one_alert(
    throttled, tmp_path, monkeypatch
):
    stack, proxy = throttled
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    claim = moves("VALIDATED", "UPLOADING")
    proxy.inject("throughput", times=6, operation="UpdateItem", where=claim)  # 3 deliveries
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    assert proxy.faults_served("UpdateItem") == 6
    [submission] = stack.submissions()
    assert steps(submission) == ["RECEIVED", "VALIDATED", "ERROR"]
    assert "Nothing was sent to CERS" in submission["failure"]
    assert posts(stack) == []
    emails = stack.alert_emails()
    assert len(emails) == 1
    assert_consistent(stack, 1, emails=emails)


def marks_alerted(body: dict) -> bool:
    return "alerted_at" in body.get("ExpressionAttributeNames", {}).values() and (
        "SET #sent" in body.get("UpdateExpression", "")
    )


def test_chaos_alert_record_throttled_past_retries_sends_no_second_alert(
    throttled, tmp_path, monkeypatch
):
    stack, proxy = throttled
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    path = tmp_path / "broken.csv"
    path.write_text("group_name,school_natural_id\r\nGr4,123\r\n")
    proxy.inject("throughput", times=2, operation="UpdateItem", where=marks_alerted)
    stack.drop(path)
    queue = stack.resources.validate_queue_url
    first = LambdaProcess.start(VALIDATOR, [notification(queue)], queue)

    assert first.finish() == {"batchItemFailures": []}  # the alert went out: nothing to retry
    # Were the message retried, it would come back after the deployed visibility timeout (18
    # minutes), when the alert's claim (5 minutes) has gone stale: age the claim as that would.
    table = boto3.resource("dynamodb").Table(stack.resources.table)
    [submission] = stack.submissions()
    table.update_item(
        Key={"submission_id": submission["submission_id"]},
        UpdateExpression="SET alert_claimed_at = :long_ago",
        ExpressionAttributeValues={":long_ago": "2000-01-01T00:00:00+00:00"},
    )
    stack.run()

    assert proxy.faults_served("UpdateItem") == 2
    [submission] = stack.submissions()
    assert steps(submission) == ["RECEIVED", "INVALID"]
    assert "alerted_at" not in submission  # sent, but the record of it was throttled away
    emails = stack.alert_emails()
    assert len(emails) == 1
    assert_consistent(stack, 1, emails=emails)


# --- 4. SQS redelivery -----------------------------------------------------------------------


def redelivered(queue_url: str) -> list[dict]:
    """The message again, once its visibility timeout has run out."""
    found: list[dict] = []
    wait_for(lambda: found.extend(receive(queue_url, visibility=120)) or found, "redelivery")
    return found


def test_chaos_upload_redelivered_while_the_first_run_still_posts(stack, tmp_path):
    stack.drop(roster(tmp_path, "class.csv"))
    stack.drain_validation()
    release = threading.Event()
    stack.standin.inject(Fault("held", release=release))  # CERS has not created the import yet
    queue = stack.resources.upload_queue_url
    first = LambdaProcess.start(UPLOADER, receive(queue), queue)  # the queue's 2 s visibility
    wait_for(lambda: status_of(stack, "class.csv") == "UPLOADING", "the first run's claim")

    second = LambdaProcess.start(UPLOADER, redelivered(queue), queue)
    assert second.finish() == {"batchItemFailures": []}
    assert status_of(stack, "class.csv") == "UNCONFIRMED"  # nothing at CERS yet: not sent again
    release.set()
    assert first.finish() == {"batchItemFailures": []}
    assert status_of(stack, "class.csv") == "ACCEPTED"  # the first run recorded its answer
    stack.run()

    submission = by_name(stack)["class.csv"]
    assert steps(submission) == ["RECEIVED", "VALIDATED", "UPLOADING", "UNCONFIRMED", "ACCEPTED"]
    assert submission["cers_import_id"] == 1
    assert posts(stack) == [202]
    assert_consistent(stack, 1, emails=stack.alert_emails())


def test_chaos_upload_redelivered_after_cers_kept_it_but_before_the_answer(stack, tmp_path):
    stack.drop(roster(tmp_path, "class.csv"))
    stack.drain_validation()
    stack.standin.inject(Fault("slow", seconds=120))  # the import exists; the answer waits
    queue = stack.resources.upload_queue_url
    first = LambdaProcess.start(UPLOADER, receive(queue), queue)
    wait_for(lambda: len(stack.standin.received) == 1, "the POST to reach CERS")

    second = LambdaProcess.start(UPLOADER, redelivered(queue), queue)
    assert second.finish() == {"batchItemFailures": []}
    assert status_of(stack, "class.csv") == "ACCEPTED"  # found by its batch
    first.kill()  # its answer would change nothing; no need to wait two minutes for it
    stack.run()

    submission = by_name(stack)["class.csv"]
    assert steps(submission) == ["RECEIVED", "VALIDATED", "UPLOADING", "ACCEPTED"]
    assert posts(stack) == [202]
    assert_consistent(stack, 1, emails=stack.alert_emails())


def test_chaos_upload_delete_lost_after_the_run_finished_is_a_no_op(stack, tmp_path):
    stack.drop(roster(tmp_path, "class.csv"))
    stack.drain_validation()
    queue = stack.resources.upload_queue_url
    LambdaProcess.start(UPLOADER, receive(queue), queue).finish(delete=False)
    before = by_name(stack)["class.csv"]

    stack.run()  # the message comes back after its visibility timeout and is handled again

    submission = by_name(stack)["class.csv"]
    assert steps(submission) == ["RECEIVED", "VALIDATED", "UPLOADING", "ACCEPTED"]
    assert submission["updated_at"] == before["updated_at"]
    assert posts(stack) == [202]
    assert_consistent(stack, 1, emails=stack.alert_emails())


def test_chaos_validation_delete_lost_after_the_run_finished_is_a_no_op(stack, tmp_path):
    stack.drop(roster(tmp_path, "class.csv"))
    queue = stack.resources.validate_queue_url
    LambdaProcess.start(VALIDATOR, [notification(queue, visibility=2)], queue).finish(delete=False)

    stack.run()

    submission = by_name(stack)["class.csv"]
    assert steps(submission) == ["RECEIVED", "VALIDATED", "UPLOADING", "ACCEPTED"]
    assert posts(stack) == [202]
    assert_consistent(stack, 1, emails=stack.alert_emails())


def test_chaos_invalid_file_delete_lost_alerts_once(stack, tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("group_name,school_natural_id\r\nGr4,123\r\n")
    stack.drop(path)
    queue = stack.resources.validate_queue_url
    LambdaProcess.start(VALIDATOR, [notification(queue, visibility=2)], queue).finish(delete=False)

    stack.run()

    assert steps(by_name(stack)["broken.csv"]) == ["RECEIVED", "INVALID"]
    emails = stack.alert_emails()
    assert len(emails) == 1
    assert_consistent(stack, 1, emails=emails)


# --- 5. the credential rotated mid-run -------------------------------------------------------

NEW_PASSWORD = "Rotated-Pass-2027!"


def rotate(stack, cognito_password: str, secret_password: str) -> None:
    """The district changes its CERS password (in Cognito) and its secret, as TOMS and the
    district's IT would; ``secret_password`` differs when the secret got a wrong value."""
    login = stack.district_login
    boto3.client("cognito-idp").admin_set_user_password(
        UserPoolId=login["pool_id"],
        Username=login["username"],
        Password=cognito_password,
        Permanent=True,
    )
    secrets = boto3.client("secretsmanager")
    name = stack.tenants.districts[0].secret_name
    value = json.loads(secrets.get_secret_value(SecretId=name)["SecretString"])
    secrets.put_secret_value(
        SecretId=name, SecretString=json.dumps({**value, "password": secret_password})
    )


def old_tokens_stop_working(stack) -> None:
    """The old sign-in is revoked: its refresh token no longer works, and CERS refuses the
    old tokens on the next call."""
    table = boto3.resource("dynamodb").Table(stack.resources.tokens_table)
    table.update_item(
        Key={TOKEN_KEY: stack.tenants.districts[0].id},
        UpdateExpression="SET refresh_token = :revoked",
        ExpressionAttributeValues={":revoked": "revoked-by-the-rotation"},
    )
    stack.standin.inject(Fault("expired-token", method="GET"))


def test_chaos_password_rotated_between_validator_and_uploader_keeps_working_tokens(
    processing_stack, tmp_path
):
    stack = processing_stack
    stack.drop(roster(tmp_path, "first.csv", group="First"))
    stack.run()
    stack.drop(roster(tmp_path, "second.csv", group="Second"))
    stack.drain_validation()

    rotate(stack, NEW_PASSWORD, NEW_PASSWORD)
    stack.run()

    assert {item["status"] for item in stack.submissions()} == {"PROCESSED"}
    assert stack.cognito.initiate_auth_calls("USER_PASSWORD_AUTH") == 1  # the old tokens served
    assert posts(stack) == [202, 202]
    assert_consistent(stack, 2, emails=stack.alert_emails())


def test_chaos_password_rotated_between_uploads_is_picked_up_once_old_tokens_fail(
    processing_stack, tmp_path
):
    stack = processing_stack
    stack.drop(roster(tmp_path, "first.csv", group="First"))
    stack.run()  # tokens in the tokens table, the secret in this container's cache

    rotate(stack, NEW_PASSWORD, NEW_PASSWORD)
    old_tokens_stop_working(stack)
    stack.drop(roster(tmp_path, "second.csv", group="Second"))
    stack.run()

    assert {item["status"] for item in stack.submissions()} == {"PROCESSED"}
    # The first sign-in, the cached old password refused once, then the new one read at once.
    assert stack.cognito.initiate_auth_calls("USER_PASSWORD_AUTH") == 3
    assert posts(stack) == [202, 202]
    assert_consistent(stack, 2, emails=stack.alert_emails())


def test_chaos_password_rotated_in_a_fresh_container_uses_the_new_secret(
    processing_stack, tmp_path
):
    stack = processing_stack
    stack.drop(roster(tmp_path, "first.csv", group="First"))
    stack.run()
    rotate(stack, NEW_PASSWORD, NEW_PASSWORD)
    old_tokens_stop_working(stack)
    stack.drop(roster(tmp_path, "second.csv", group="Second"))
    stack.drain_validation()

    queue = stack.resources.upload_queue_url
    assert LambdaProcess.start(UPLOADER, receive(queue), queue).finish() == {
        "batchItemFailures": []
    }
    stack.run()

    assert {item["status"] for item in stack.submissions()} == {"PROCESSED"}
    # A new container has no cached secret: it signs in with the new password at once.
    assert stack.cognito.initiate_auth_calls("USER_PASSWORD_AUTH") == 2
    assert posts(stack) == [202, 202]
    assert_consistent(stack, 2, emails=stack.alert_emails())


def test_chaos_password_rotated_to_a_wrong_secret_is_auth_failed_with_one_alert(
    processing_stack, tmp_path
):
    stack = processing_stack
    stack.drop(roster(tmp_path, "first.csv", group="First"))
    stack.run()

    rotate(stack, NEW_PASSWORD, "Mistyped-Pass-2027!")
    old_tokens_stop_working(stack)
    stack.drop(roster(tmp_path, "second.csv", group="Second"))
    stack.run()

    first, second = by_name(stack)["first.csv"], by_name(stack)["second.csv"]
    assert (first["status"], second["status"]) == ("PROCESSED", "AUTH_FAILED")
    assert second["reason"] == "wrong-password"
    assert posts(stack) == [202]
    emails = stack.alert_emails()
    assert len(emails) == 1
    assert "second.csv" in emails[0]["subject"]
    assert_consistent(stack, 2, emails=emails)


def test_chaos_claim_applied_but_its_answer_lost_is_followed_up_never_sent_twice(
    throttled, tmp_path, monkeypatch
):
    stack, proxy = throttled
    # DynamoDB applies the claim, its answer is lost; botocore's retry then finds the file
    # already UPLOADING and the run takes it for another run's claim.
    proxy.inject("lost", times=1, operation="UpdateItem", where=moves("VALIDATED", "UPLOADING"))
    stack.drop(roster(tmp_path, "class.csv"))
    stack.run()
    [left] = stack.submissions()
    assert (left["status"], posts(stack)) == ("UPLOADING", [])

    monkeypatch.setenv(DEADLINE_ENV, "0")
    age(stack, left, minutes=25)  # older than any uploader run can last
    stack.run()

    [submission] = stack.submissions()
    assert steps(submission)[-3:] == ["UPLOADING", "UNCONFIRMED", "OUTCOME_UNKNOWN"]
    assert posts(stack) == []
    assert_consistent(stack, 1, emails=stack.alert_emails())


def age(stack, submission: dict, minutes: int) -> None:
    """Moves the submission's last change back in time, as waiting that long would."""
    moment = datetime.now(UTC) - timedelta(minutes=minutes)
    boto3.resource("dynamodb").Table(stack.resources.table).update_item(
        Key={"submission_id": submission["submission_id"]},
        UpdateExpression="SET updated_at = :at",
        ExpressionAttributeValues={":at": moment.isoformat(timespec="milliseconds")[:-6] + "Z"},
    )
