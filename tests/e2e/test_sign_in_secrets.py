"""A sign-in that fails (wrong password, a secret that is not the credential JSON) is logged,
recorded and e-mailed without the password or any part of the secret's text."""

import json
from pathlib import Path

import boto3
import pytest

from local_stack.stack import local_stack
from tests.privacy import Recorder, capture_logs

VALID = Path(__file__).parents[2] / "local_stack" / "samples" / "valid_roster.csv"
WRONG_PASSWORD = "Wrong-Roster-Pass-31!"
BROKEN_PASSWORD = "Half-Written-Pass-77!"


@pytest.fixture
def stack():
    with local_stack() as running:
        yield running


@pytest.fixture
def logged(tmp_path):
    """The product's log lines as Powertools writes them, for this test only."""
    recorder = Recorder(tmp_path / "unused.jsonl", in_memory=True)
    attached = capture_logs(recorder)
    yield lambda: [record.text for record in recorder.records if record.channel.startswith("log")]
    for handler, capturing in attached:
        handler.removeFilter(capturing)


def _set_secret(stack, text: str) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=stack.tenants.districts[0].secret_name, SecretString=text
    )


def _credential(stack) -> dict:
    secret = boto3.client("secretsmanager").get_secret_value(
        SecretId=stack.tenants.districts[0].secret_name
    )
    return json.loads(secret["SecretString"])


def _everything_written(stack, logs: list[str]) -> str:
    emails = stack.alert_emails()
    assert emails, "the failure was not e-mailed"
    return "\n".join([*logs, json.dumps(emails), json.dumps(stack.submissions(), default=str)])


def test_sign_in_wrong_password_is_logged_and_alerted_without_it(stack, logged):
    _set_secret(stack, json.dumps({**_credential(stack), "password": WRONG_PASSWORD}))
    stack.drop(VALID)

    stack.run()

    [submission] = stack.submissions()
    assert (submission["status"], submission["reason"]) == ("AUTH_FAILED", "wrong-password")
    failures = [json.loads(line) for line in logged() if '"Submission failed"' in line]
    assert [line["reason"] for line in failures] == ["wrong-password"]
    written = _everything_written(stack, logged())
    assert WRONG_PASSWORD not in written
    assert stack.district_login["password"] not in written


@pytest.mark.parametrize(
    "broken",
    [
        # Cut off mid-document: a JSON error message would quote the text around the fault.
        '{"username": "it@sampleusd.example.org", "password": "' + BROKEN_PASSWORD + '", "cli',
        # Valid JSON, a field missing: pydantic's message would quote the input.
        json.dumps({"username": "it@sampleusd.example.org", "password": BROKEN_PASSWORD}),
    ],
    ids=["truncated-json", "missing-client-id"],
)
def test_sign_in_broken_secret_is_logged_and_alerted_without_its_text(stack, logged, broken):
    _set_secret(stack, broken)
    stack.drop(VALID)

    stack.run()

    [submission] = stack.submissions()
    assert submission["status"] == "AUTH_FAILED"
    assert any('"Submission failed"' in line for line in logged())
    written = _everything_written(stack, logged())
    assert BROKEN_PASSWORD not in written
    assert stack.district_login["password"] not in written
