"""The main job end to end: real handlers, moto's server and the CERS stand-in over HTTP."""

import csv
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from cers_groups.handlers import uploader, validator
from local_stack.lambda_runner import LambdaContext, sqs_event
from local_stack.stack import local_stack

SAMPLES = Path(__file__).parents[2] / "local_stack" / "samples"
VALID = SAMPLES / "valid_roster.csv"
INVALID = SAMPLES / "invalid_roster.csv"


@pytest.fixture
def stack():
    with local_stack() as running:
        yield running


def sample_values(column: int) -> set[str]:
    values = set()
    for roster in (VALID, INVALID):
        with roster.open(newline="") as handle:
            values.update(row[column] for row in list(csv.reader(handle))[1:] if len(row) > 5)
    return values - {""}


def by_file(stack) -> dict[str, dict]:
    return {item["key"].rsplit("/", 1)[-1]: item for item in stack.submissions()}


def test_pipeline_valid_roster_is_accepted_and_recorded(stack):
    stack.drop(VALID)

    stack.run()

    [submission] = stack.submissions()
    assert submission["status"] == "ACCEPTED"
    assert (
        submission["digest"]
        == hashlib.md5(VALID.read_bytes(), usedforsecurity=False).hexdigest().upper()
    )
    assert submission["cers_digest"] == submission["digest"]
    [received] = stack.standin.received
    assert submission["cers_import_id"] == received.import_id
    assert [step["status"] for step in submission["history"]] == [
        "RECEIVED",
        "VALIDATED",
        "UPLOADING",
        "ACCEPTED",
    ]
    assert stack.alert_emails() == []


def test_pipeline_invalid_roster_never_leaves_aws_and_alerts_once(stack):
    stack.drop(INVALID)

    stack.run()

    [submission] = stack.submissions()
    assert submission["status"] == "INVALID"
    assert submission["problems"] and all(p["row"] for p in submission["problems"][1:])
    assert stack.standin.received == []
    [email] = stack.alert_emails()
    assert email["audience"] == "sample-usd"
    assert INVALID.name in email["subject"]
    for problem in submission["problems"]:
        assert problem["rule"] in email["body"]
        if problem["row"] is not None:
            assert f"row {problem['row']} " in email["body"]
    assert not any(ssid in email["body"] for ssid in sample_values(4))
    assert not any(login in email["body"] for login in sample_values(5))
    report = boto3.client("s3").get_object(
        Bucket=stack.resources.bucket, Key=submission["report_key"]
    )
    assert json.loads(report["Body"].read())["valid"] is False


def test_pipeline_demo_flow_gives_one_accepted_one_invalid_one_email(stack):
    stack.drop(VALID)
    stack.drop(INVALID)

    stack.run()

    statuses = {name: item["status"] for name, item in by_file(stack).items()}
    assert statuses == {VALID.name: "ACCEPTED", INVALID.name: "INVALID"}
    assert len(stack.alert_emails()) == 1
    assert len(stack.standin.received) == 1


def test_pipeline_same_events_twice_post_once(stack):
    sqs = boto3.client("sqs")
    stack.drop(VALID)
    validate_event = receive_event(sqs, stack.resources.validate_queue_url)

    validator.lambda_handler(validate_event, LambdaContext("validator"))
    validator.lambda_handler(validate_event, LambdaContext("validator"))
    upload_event = receive_event(sqs, stack.resources.upload_queue_url)
    uploader.lambda_handler(upload_event, LambdaContext("uploader"))
    uploader.lambda_handler(upload_event, LambdaContext("uploader"))

    assert len(stack.standin.received) == 1
    [submission] = stack.submissions()
    assert submission["status"] == "ACCEPTED"


def test_pipeline_keys_with_spaces_and_plus_are_decoded(stack):
    stack.drop(VALID, name="spring term+v2 roster.csv")

    stack.run()

    [submission] = stack.submissions()
    assert submission["key"] == f"{stack.folder}spring term+v2 roster.csv"
    assert submission["status"] == "ACCEPTED"
    batch = f"{submission['submission_id']}-spring term+v2 roster.csv"
    assert stack.standin.received[0].batch == batch


def test_pipeline_skips_test_events_and_folder_markers(stack):
    stack.put(f"{stack.folder}2026/", b"")

    stack.run()

    assert stack.submissions() == []


def test_pipeline_wrong_password_is_auth_failed_with_one_alert(stack):
    secrets = boto3.client("secretsmanager")
    credential = json.loads(
        secrets.get_secret_value(SecretId=stack.tenants.districts[0].secret_name)["SecretString"]
    )
    credential["password"] = "not-the-password-1A!"
    secrets.put_secret_value(
        SecretId=stack.tenants.districts[0].secret_name, SecretString=json.dumps(credential)
    )
    stack.drop(VALID)

    stack.run()

    [submission] = stack.submissions()
    assert submission["status"] == "AUTH_FAILED"
    assert submission["reason"] == "wrong-password"
    assert stack.standin.received == []
    [email] = stack.alert_emails()
    assert "sign-in failed" in email["subject"]
    assert "not-the-password" not in email["body"]


def test_pipeline_cers_rejection_is_bad_data_without_row_values(stack):
    stack.standin.validator.schools = frozenset({"99123450111111"})
    stack.drop(VALID)

    stack.run()

    [submission] = stack.submissions()
    assert submission["status"] == "BAD_DATA"
    assert "can not be found" in submission["cers_message"]
    [email] = stack.alert_emails()
    assert "rejected by CERS" in email["subject"]
    assert "School [...] can not be found" in email["body"]
    assert "99123450122222" not in email["body"]


def test_pipeline_cers_unreachable_is_upload_failed_with_one_alert(stack):
    stack.standin.stop()
    stack.drop(VALID)

    stack.run()

    [submission] = stack.submissions()
    assert submission["status"] == "UPLOAD_FAILED"
    assert len(stack.alert_emails()) == 1


def receive_event(sqs, queue_url: str) -> dict:
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return sqs_event(messages, arn["Attributes"]["QueueArn"], sqs.meta.region_name)


def test_pipeline_file_outside_district_folders_is_rejected_for_operators(stack):
    stack.put("incoming/unknown-district/roster.csv", VALID.read_bytes())
    stack.put("incoming/roster.csv", VALID.read_bytes())

    stack.run()

    statuses = sorted(item["status"] for item in stack.submissions())
    assert statuses == ["REJECTED", "REJECTED"]
    assert stack.standin.received == []
    emails = stack.alert_emails()
    assert [email["audience"] for email in emails] == ["operators", "operators"]
    assert all("outside every district" in email["subject"] for email in emails)


def test_pipeline_object_gone_before_validation_ends_in_error_with_one_alert(stack):
    s3 = boto3.client("s3")
    key = stack.drop(VALID)
    for version in s3.list_object_versions(Bucket=stack.resources.bucket)["Versions"]:
        s3.delete_object(Bucket=stack.resources.bucket, Key=key, VersionId=version["VersionId"])

    stack.run()

    [submission] = stack.submissions()
    assert submission["status"] == "ERROR"
    assert "NoSuchKey" in submission["failure"]
    [email] = stack.alert_emails()
    assert "could not be processed" in email["subject"]
    assert "Traceback" not in email["body"]


def test_pipeline_corrected_password_is_picked_up_without_waiting_for_the_cache(stack):
    secrets = boto3.client("secretsmanager")
    secret_name = stack.tenants.districts[0].secret_name
    good = secrets.get_secret_value(SecretId=secret_name)["SecretString"]
    wrong = {**json.loads(good), "password": "not-the-password-1A!"}
    secrets.put_secret_value(SecretId=secret_name, SecretString=json.dumps(wrong))
    stack.drop(VALID, name="first.csv")
    stack.run()

    secrets.put_secret_value(SecretId=secret_name, SecretString=good)
    stack.drop(VALID, name="second.csv")
    stack.run()

    statuses = {name: item["status"] for name, item in by_file(stack).items()}
    assert statuses == {"first.csv": "AUTH_FAILED", "second.csv": "ACCEPTED"}


def test_pipeline_overlapping_runs_send_one_alert(stack):
    sqs = boto3.client("sqs")
    stack.drop(INVALID)
    event = receive_event(sqs, stack.resources.validate_queue_url)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: validator.lambda_handler(event, LambdaContext("v")), range(4)))

    assert len(stack.alert_emails()) == 1


def test_pipeline_sends_the_version_it_validated_even_if_the_key_is_overwritten(stack):
    sqs = boto3.client("sqs")
    key = stack.drop(VALID)
    validator.lambda_handler(
        receive_event(sqs, stack.resources.validate_queue_url), LambdaContext("v")
    )
    stack.put(key, INVALID.read_bytes())

    upload_event = receive_event(sqs, stack.resources.upload_queue_url)
    uploader.lambda_handler(upload_event, LambdaContext("u"))

    [post] = stack.standin.received
    assert post.digest == hashlib.md5(VALID.read_bytes(), usedforsecurity=False).hexdigest().upper()
