"""Per-submission reports in the bucket, written by the real handlers on the local stack."""

import csv
import io
import json
from pathlib import Path

import boto3
import pytest

from cers_groups.handlers import validator
from cers_groups.reports import report_keys
from local_stack.lambda_runner import LambdaContext, sqs_event
from local_stack.stack import local_stack

SAMPLES = Path(__file__).parents[2] / "local_stack" / "samples"
VALID = SAMPLES / "valid_roster.csv"
INVALID = SAMPLES / "invalid_roster.csv"
REPORT_SHAPE = {"file", "valid", "rows", "digest", "errors", "warnings"}


@pytest.fixture
def stack():
    with local_stack() as running:
        yield running


def read(stack, key: str) -> tuple[str, str]:
    response = boto3.client("s3").get_object(Bucket=stack.resources.bucket, Key=key)
    return response["Body"].read().decode(), response["ContentType"]


def versions(stack, key: str) -> int:
    listed = boto3.client("s3").list_object_versions(Bucket=stack.resources.bucket, Prefix=key)
    return len([version for version in listed.get("Versions", []) if version["Key"] == key])


def sample_values(column: int) -> set[str]:
    values = set()
    for roster in (VALID, INVALID):
        with roster.open(newline="") as handle:
            values.update(row[column] for row in list(csv.reader(handle))[1:] if len(row) > 5)
    return values - {""}


def test_reports_invalid_roster_gets_json_csv_and_page_and_the_alert_names_the_page(stack):
    stack.drop(INVALID)

    stack.run()

    [submission] = stack.submissions()
    keys = report_keys(submission["submission_id"])
    assert submission["report_key"] == keys.json
    document = json.loads(read(stack, keys.json)[0])
    assert set(document) >= REPORT_SHAPE
    assert document["valid"] is False and document["status"] == "INVALID"
    assert document["errors"] == submission["problems"]
    assert [step["status"] for step in document["history"]] == ["RECEIVED", "INVALID"]
    problems, content_type = read(stack, keys.csv)
    assert content_type.startswith("text/csv")
    assert len(list(csv.reader(io.StringIO(problems)))) == len(document["errors"]) + 1
    page, content_type = read(stack, keys.page)
    assert content_type == "text/html; charset=utf-8"
    assert "<h1>invalid_roster.csv</h1>" in page
    [email] = stack.alert_emails()
    assert f"s3://{stack.resources.bucket}/{keys.page}" in email["body"]
    for text in (page, problems, json.dumps(document)):
        assert not any(value in text for value in sample_values(4) | sample_values(5))


def test_reports_page_is_written_again_when_cers_answers(stack):
    stack.drop(VALID)

    stack.run()

    [submission] = stack.submissions()
    keys = report_keys(submission["submission_id"])
    document = json.loads(read(stack, keys.json)[0])
    assert document["status"] == "ACCEPTED"
    assert document["cers"]["import_id"] == submission["cers_import_id"]
    assert document["cers"]["status"] == "ACCEPTED"
    page = read(stack, keys.page)[0]
    assert "<strong>ACCEPTED</strong>" in page
    assert f'<th scope="row">Import id</th><td>{submission["cers_import_id"]}</td>' in page
    # Once when validated, once when CERS answered.
    assert versions(stack, keys.page) == 2


def test_reports_page_is_not_rewritten_when_nothing_changed(stack):
    sqs = boto3.client("sqs")
    stack.drop(INVALID)
    messages = sqs.receive_message(
        QueueUrl=stack.resources.validate_queue_url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        WaitTimeSeconds=1,
    )["Messages"]
    arn = sqs.get_queue_attributes(
        QueueUrl=stack.resources.validate_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    event = sqs_event(messages, arn, sqs.meta.region_name)

    validator.lambda_handler(event, LambdaContext("validator"))
    validator.lambda_handler(event, LambdaContext("validator"))

    [submission] = stack.submissions()
    assert versions(stack, report_keys(submission["submission_id"]).page) == 1
    assert len(stack.alert_emails()) == 1


def test_reports_file_outside_every_district_gets_a_page_for_operators(stack):
    stack.put("incoming/roster.csv", VALID.read_bytes())

    stack.run()

    [submission] = stack.submissions()
    keys = report_keys(submission["submission_id"])
    document = json.loads(read(stack, keys.json)[0])
    assert document["valid"] is None and document["status"] == "REJECTED"
    assert document["errors"] == [] and document["rows"] is None
    page = read(stack, keys.page)[0]
    assert "<strong>REJECTED</strong>" in page
    [email] = stack.alert_emails()
    assert keys.page in email["body"]


def test_reports_bad_data_page_keeps_the_cers_answer_the_email_hides(stack):
    stack.standin.validator.schools = frozenset({"99123450111111"})
    stack.drop(VALID)

    stack.run()

    [submission] = stack.submissions()
    page = read(stack, report_keys(submission["submission_id"]).page)[0]
    assert "School [99123450122222] can not be found" in page
    [email] = stack.alert_emails()
    assert "99123450122222" not in email["body"]


def test_reports_a_report_that_cannot_be_written_holds_no_alert_back(stack, monkeypatch, capsys):
    # The functions write reports to the bucket their settings name; point that at none.
    monkeypatch.setenv("ROSTER_BUCKET", "no-such-bucket")
    stack.put("incoming/roster.csv", VALID.read_bytes())

    stack.run()

    [submission] = stack.submissions()
    assert submission["status"] == "REJECTED"
    [email] = stack.alert_emails()
    assert "outside every district" in email["subject"]
    assert "Full report" not in email["body"]
    assert '"ReportsFailed":[1.0]' in capsys.readouterr().out
