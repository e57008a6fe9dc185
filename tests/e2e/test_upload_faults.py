"""The fault suite: every way an upload can go wrong, through the real handlers.

Each test runs the validator, uploader and poller handlers against moto's server (through the
local Cognito proxy, which logs every InitiateAuth and injects Cognito's faults) and the CERS
stand-in (which injects CERS's faults), then checks the final status, how many POSTs CERS
received, the alerts sent, and that no submission was lost.
"""

import json
import time
from decimal import Decimal
from pathlib import Path

import boto3
import pytest

from cers_groups import cognito
from cers_groups.cers import CersClient
from cers_groups.resources import TOKEN_KEY
from cers_groups.settings import DEADLINE_ENV, READ_TIMEOUT_ENV
from cers_groups.submissions import Status, SubmissionStore
from local_stack.cers_standin import Fault
from local_stack.stack import local_stack

HEADER = "group_name,school_natural_id,school_year,subject_code,student_ssid,group_user_login"
SCHOOL = "99123450111111"
# Statuses a submission may be left in when a test ends: each one is recorded and followed.
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


def roster(tmp_path: Path, name: str, group: str = "Gr4_Math_Rm7", students: int = 3) -> Path:
    rows = [HEADER] + [
        f"{group},{SCHOOL},2027,Math,{1000000000 + number},t{number}@sampleusd.example.org"
        for number in range(1, students + 1)
    ]
    path = tmp_path / name
    path.write_text("\r\n".join(rows) + "\r\n")
    return path


def only(stack) -> dict:
    [submission] = stack.submissions()
    return submission


def by_name(stack) -> dict[str, dict]:
    return {item["key"].rsplit("/", 1)[-1]: item for item in stack.submissions()}


def posts(stack) -> list[int]:
    return [post.http_status for post in stack.standin.received]


def assert_nothing_lost(stack, dropped: int) -> None:
    """Every dropped file has one submission in a recorded state; no message is dead."""
    submissions = stack.submissions()
    assert len(submissions) == dropped
    assert {item["status"] for item in submissions} <= SETTLED
    sqs = boto3.client("sqs")
    for queue in (stack.resources.validate_dlq_url, stack.resources.upload_dlq_url):
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
        )
        assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"


def put_secret(stack, **changes) -> None:
    secrets = boto3.client("secretsmanager")
    name = stack.tenants.districts[0].secret_name
    value = json.loads(secrets.get_secret_value(SecretId=name)["SecretString"])
    secrets.put_secret_value(SecretId=name, SecretString=json.dumps({**value, **changes}))


def tokens_item(stack) -> dict:
    table = boto3.resource("dynamodb").Table(stack.resources.tokens_table)
    return table.get_item(Key={TOKEN_KEY: stack.tenants.districts[0].id})["Item"]


def update_tokens_item(stack, **fields) -> None:
    table = boto3.resource("dynamodb").Table(stack.resources.tokens_table)
    table.update_item(
        Key={TOKEN_KEY: stack.tenants.districts[0].id},
        UpdateExpression="SET " + ", ".join(f"{name} = :{name}" for name in fields),
        ExpressionAttributeValues={f":{name}": value for name, value in fields.items()},
    )


# --- signing in ----------------------------------------------------------------------------


def test_upload_fifty_files_at_once_sign_in_once(processing_stack, tmp_path):
    stack = processing_stack
    for number in range(50):
        stack.drop(roster(tmp_path, f"class-{number:02}.csv", group=f"Group_{number:02}"))

    stack.run(timeout=120)

    statuses = {item["status"] for item in stack.submissions()}
    assert statuses == {"PROCESSED"}
    assert posts(stack) == [202] * 50
    assert stack.cognito.initiate_auth_calls() <= 2
    assert stack.cognito.initiate_auth_calls("USER_PASSWORD_AUTH") == 1
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 50)


def test_upload_tokens_near_expiry_are_refreshed_without_the_password(stack, tmp_path):
    stack.drop(roster(tmp_path, "first.csv", group="First"))
    stack.run()
    update_tokens_item(stack, expires_at=Decimal(int(time.time()) + 120))

    stack.drop(roster(tmp_path, "second.csv", group="Second"))
    stack.run()

    assert {item["status"] for item in stack.submissions()} == {"ACCEPTED", "WAITING"}
    assert stack.cognito.initiate_auth_calls("USER_PASSWORD_AUTH") == 1
    assert stack.cognito.initiate_auth_calls("REFRESH_TOKEN_AUTH") == 1
    assert_nothing_lost(stack, 2)


def test_upload_refused_refresh_token_falls_back_to_a_fresh_login(stack, tmp_path):
    stack.drop(roster(tmp_path, "first.csv"))
    stack.run()
    update_tokens_item(
        stack, expires_at=Decimal(int(time.time()) + 60), refresh_token="revoked-refresh-token"
    )
    stack.standin.process(1)
    stack.run()  # the poller signs in to look the import up

    assert only(stack)["status"] == "PROCESSED"
    assert stack.cognito.initiate_auth_calls("REFRESH_TOKEN_AUTH") == 1
    assert stack.cognito.initiate_auth_calls("USER_PASSWORD_AUTH") == 2
    assert_nothing_lost(stack, 1)


def test_upload_wrong_password_signs_in_once_and_stops(stack, tmp_path):
    put_secret(stack, password="Not-the-password-1!")
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert (submission["status"], submission["reason"]) == ("AUTH_FAILED", "wrong-password")
    assert stack.cognito.initiate_auth_calls() == 1  # re-read the secret, it had not changed
    assert posts(stack) == []
    [email] = stack.alert_emails()
    assert "Repeated failed sign-ins can lock the account" in email["body"]
    assert_nothing_lost(stack, 1)


def test_upload_password_reset_required_stops_without_retrying(stack, tmp_path):
    stack.cognito.inject("password-reset-required", times=10)
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert (submission["status"], submission["reason"]) == (
        "AUTH_FAILED",
        "password-reset-required",
    )
    assert stack.cognito.initiate_auth_calls() == 1
    assert posts(stack) == []
    [email] = stack.alert_emails()
    assert "requires a password reset" in email["body"]
    assert_nothing_lost(stack, 1)


def test_upload_new_password_challenge_is_never_answered(stack, tmp_path):
    pool = stack.district_login["pool_id"]
    boto3.client("cognito-idp").admin_create_user(
        UserPoolId=pool,
        Username="fresh@sampleusd.example.org",
        TemporaryPassword="Temporary-Pass-1!",
        MessageAction="SUPPRESS",
    )
    put_secret(stack, username="fresh@sampleusd.example.org", password="Temporary-Pass-1!")
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert (submission["status"], submission["reason"]) == (
        "AUTH_FAILED",
        "new-password-required",
    )
    operations = {call.operation for call in stack.cognito.calls}
    assert "RespondToAuthChallenge" not in operations
    assert posts(stack) == []
    assert len(stack.alert_emails()) == 1
    assert_nothing_lost(stack, 1)


def test_upload_password_flow_not_enabled_is_a_configuration_error(stack, tmp_path):
    stack.cognito.inject("flow-not-enabled", times=10)
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert (submission["status"], submission["reason"]) == ("AUTH_FAILED", "client-misconfigured")
    assert "does not allow username and password sign-in" in submission["failure"]
    assert stack.cognito.initiate_auth_calls() == 1
    assert len(stack.alert_emails()) == 1
    assert_nothing_lost(stack, 1)


def test_upload_unknown_app_client_is_a_configuration_error(stack, tmp_path):
    put_secret(stack, client_id="unknown-client-id")
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert (submission["status"], submission["reason"]) == ("AUTH_FAILED", "client-misconfigured")
    assert posts(stack) == []
    assert len(stack.alert_emails()) == 1
    assert_nothing_lost(stack, 1)


def test_upload_cognito_throttling_is_retried_with_backoff(stack, tmp_path):
    stack.cognito.inject("throttled", times=2)
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    assert only(stack)["status"] == "ACCEPTED"
    assert stack.cognito.initiate_auth_calls() == 3
    assert posts(stack) == [202]
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 1)


def test_upload_cognito_throttled_throughout_is_not_blamed_on_the_credential(
    stack, tmp_path, monkeypatch
):
    monkeypatch.setattr(cognito, "SIGN_IN_ATTEMPTS", 2)
    stack.cognito.inject("throttled", times=100)
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert (submission["status"], submission["reason"]) == ("UPLOAD_FAILED", "throttled")
    assert stack.cognito.initiate_auth_calls() == 6  # 2 tries in each of 3 runs
    assert posts(stack) == []
    [email] = stack.alert_emails()
    assert "credential itself was not refused" in email["body"]
    assert "Fix the CERS credential" not in email["body"]
    assert_nothing_lost(stack, 1)


def test_upload_cognito_connection_reset_is_retried(stack, tmp_path):
    stack.cognito.inject("reset")
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    assert only(stack)["status"] == "ACCEPTED"
    assert posts(stack) == [202]
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 1)


def test_upload_refused_token_kind_falls_back_to_the_other_and_is_remembered(
    processing_stack, tmp_path
):
    stack = processing_stack
    put_secret(stack, token_use="access")
    stack.standin.token_uses = frozenset({"id"})
    stack.drop(roster(tmp_path, "first.csv", group="First"))
    stack.drop(roster(tmp_path, "second.csv", group="Second"))

    stack.run()

    assert {item["status"] for item in stack.submissions()} == {"PROCESSED"}
    assert posts(stack) == [202, 202]
    refused = [request for request in stack.standin.requests if request.http_status == 401]
    assert len(refused) == 1  # only the first call ever sent the access token
    assert tokens_item(stack)["bearer"] == "id"
    assert_nothing_lost(stack, 2)


def test_upload_token_cers_calls_expired_is_renewed_and_sent_once(processing_stack, tmp_path):
    stack = processing_stack
    stack.drop(roster(tmp_path, "first.csv", group="First"))
    stack.run()
    stack.standin.inject(Fault("expired-token", method="GET"))

    stack.drop(roster(tmp_path, "second.csv", group="Second"))
    stack.run()

    assert {item["status"] for item in stack.submissions()} == {"PROCESSED"}
    assert posts(stack) == [202, 202]
    assert stack.cognito.initiate_auth_calls("REFRESH_TOKEN_AUTH") == 1
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 2)


# --- sending -------------------------------------------------------------------------------


def test_upload_read_timeout_looks_the_import_up_instead_of_sending_again(
    stack, tmp_path, monkeypatch
):
    monkeypatch.setenv(READ_TIMEOUT_ENV, "0.5")
    stack.standin.inject(Fault("slow", seconds=1.5))
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert submission["status"] == "ACCEPTED"
    assert submission["cers_import_id"] == 1
    assert len(posts(stack)) == 1
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 1)


def test_upload_hanging_answer_is_unconfirmed_then_outcome_unknown_at_the_deadline(
    stack, tmp_path, monkeypatch
):
    monkeypatch.setenv(READ_TIMEOUT_ENV, "0.5")
    stack.standin.inject(Fault("hang"))
    stack.drop(roster(tmp_path, "class.csv"))
    stack.run()
    assert only(stack)["status"] == "UNCONFIRMED"
    assert stack.alert_emails() == []

    monkeypatch.setenv(DEADLINE_ENV, "0")
    stack.run()

    submission = only(stack)
    assert submission["status"] == "OUTCOME_UNKNOWN"
    assert submission["batch"] in submission["failure"]
    assert posts(stack) == [0]
    [email] = stack.alert_emails()
    assert "has an unknown outcome at CERS" in email["subject"]
    assert_nothing_lost(stack, 1)


def test_upload_connection_reset_after_cers_kept_the_file_is_found_by_batch(stack, tmp_path):
    stack.standin.inject(Fault("reset", recorded=True))
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert submission["status"] == "ACCEPTED"
    assert submission["cers_import_id"] == 1
    assert posts(stack) == [0]
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 1)


def test_upload_gateway_timeout_is_looked_up_and_never_sent_again(stack, tmp_path):
    stack.standin.inject(Fault("error", status=504))
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    assert only(stack)["status"] == "UNCONFIRMED"
    assert posts(stack) == [504]
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 1)


def test_upload_server_error_is_sent_again_after_cers_shows_no_import(stack, tmp_path):
    stack.standin.inject(Fault("error", status=500))
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    assert only(stack)["status"] == "ACCEPTED"
    assert posts(stack) == [500, 202]
    served = [(request.method, request.path) for request in stack.standin.requests]
    first_post = served.index(("POST", "/groups/imports/"))
    assert ("GET", "/groups/imports") in served[first_post + 1 :]  # looked up before re-sending
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 1)


def test_upload_server_errors_throughout_end_upload_failed_with_one_clear_message(stack, tmp_path):
    stack.standin.inject(Fault("error", status=503), times=3)
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert (submission["status"], submission["reason"]) == ("UPLOAD_FAILED", "server-error")
    assert "holds no import" in submission["failure"]
    assert "look the import up" not in submission["failure"]
    assert posts(stack) == [503, 503, 503]
    assert len(stack.alert_emails()) == 1
    assert_nothing_lost(stack, 1)


def test_upload_throttled_by_cers_is_sent_again(stack, tmp_path):
    stack.standin.inject(Fault("error", status=429, retry_after=0))
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    assert only(stack)["status"] == "ACCEPTED"
    assert posts(stack) == [429, 202]
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 1)


def test_upload_cers_unreachable_goes_back_to_the_queue_then_fails_once(stack, tmp_path):
    stack.standin.stop()
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert (submission["status"], submission["reason"]) == ("UPLOAD_FAILED", "unreachable")
    assert posts(stack) == []
    assert len(stack.alert_emails()) == 1
    assert_nothing_lost(stack, 1)


def test_upload_login_without_group_write_is_permission_denied_before_sending(stack, tmp_path):
    stack.standin.group_writers = frozenset()
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert submission["status"] == "PERMISSION_DENIED"
    assert posts(stack) == []
    [email] = stack.alert_emails()
    assert "may not write groups" in email["subject"]
    assert "group administration" in email["body"]
    assert_nothing_lost(stack, 1)


def test_upload_forbidden_answer_to_the_post_is_permission_denied(stack, tmp_path):
    stack.standin.inject(Fault("error", status=403))
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    assert only(stack)["status"] == "PERMISSION_DENIED"
    assert posts(stack) == [403]
    assert len(stack.alert_emails()) == 1
    assert_nothing_lost(stack, 1)


def test_upload_unexpected_import_status_is_explained(stack, tmp_path):
    stack.standin.inject(Fault("status", answer="UNAUTHORIZED"))
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert (submission["status"], submission["cers_import_id"]) == ("OUTCOME_UNKNOWN", 1)
    assert "'UNAUTHORIZED'" in submission["failure"]
    assert posts(stack) == [202]
    [email] = stack.alert_emails()
    assert "import 1" in email["body"]
    assert_nothing_lost(stack, 1)


def test_upload_file_deleted_before_sending_posts_nothing(stack, tmp_path):
    key = stack.drop(roster(tmp_path, "class.csv"))
    stack.drain_validation()
    s3 = boto3.client("s3")
    for version in s3.list_object_versions(Bucket=stack.resources.bucket)["Versions"]:
        s3.delete_object(Bucket=stack.resources.bucket, Key=key, VersionId=version["VersionId"])

    stack.run()

    submission = only(stack)
    assert submission["status"] == "UPLOAD_FAILED"
    assert "deleted from the bucket before it could be sent" in submission["failure"]
    assert posts(stack) == []
    [email] = stack.alert_emails()
    assert "earlier attempt" not in email["body"]
    assert_nothing_lost(stack, 1)


def test_upload_crash_between_post_and_record_never_posts_twice(stack, tmp_path):
    crashed = []

    def crash_once(params, **_):
        body = json.loads(params["body"])
        values = body.get("ExpressionAttributeValues", {})
        if values.get(":expected") == {"S": "UPLOADING"} and not crashed:
            crashed.append(True)
            raise RuntimeError("the function stopped here")

    events = boto3._get_default_session().events
    events.register("before-call.dynamodb.UpdateItem", crash_once)
    try:
        stack.drop(roster(tmp_path, "class.csv"))
        stack.run()
    finally:
        events.unregister("before-call.dynamodb.UpdateItem", crash_once)

    submission = only(stack)
    assert crashed
    assert submission["status"] == "ACCEPTED"
    assert submission["cers_import_id"] == 1
    assert posts(stack) == [202]
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 1)


# --- duplicates ----------------------------------------------------------------------------


def test_upload_bytes_already_processed_are_a_duplicate_and_not_sent(processing_stack, tmp_path):
    stack = processing_stack
    path = roster(tmp_path, "class.csv")
    stack.drop(path, name="monday.csv")
    stack.run()

    stack.drop(path, name="tuesday.csv")
    stack.run()

    monday, tuesday = by_name(stack)["monday.csv"], by_name(stack)["tuesday.csv"]
    assert (monday["status"], tuesday["status"]) == ("PROCESSED", "DUPLICATE")
    assert tuesday["cers_import_id"] == monday["cers_import_id"]
    assert tuesday["duplicate_of"] == monday["submission_id"]
    assert posts(stack) == [202]
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 2)


def test_upload_forced_resend_posts_and_records_what_cers_did(processing_stack, tmp_path):
    stack = processing_stack
    path = roster(tmp_path, "class.csv")
    stack.drop(path, name="monday.csv")
    stack.run()
    stack.drop(path, name="tuesday.csv")
    stack.run()
    tuesday = by_name(stack)["tuesday.csv"]

    # What the operators' resend command does: back to VALIDATED, then a forced message.
    SubmissionStore(stack.resources.table).advance(
        tuesday["submission_id"], Status.DUPLICATE, Status.VALIDATED
    )
    boto3.client("sqs").send_message(
        QueueUrl=stack.resources.upload_queue_url,
        MessageBody=json.dumps({"submission_id": tuesday["submission_id"], "force": True}),
        MessageGroupId=tuesday["district"],
        MessageDeduplicationId=f"{tuesday['submission_id']}-resend",
    )
    stack.run()

    tuesday = by_name(stack)["tuesday.csv"]
    assert tuesday["status"] == "DUPLICATE"
    assert tuesday["forced"] is True
    assert "had already processed identical bytes" in tuesday["note"]
    assert posts(stack) == [202, 202]
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 2)


def test_upload_cers_answering_with_an_older_import_is_recorded_honestly(stack, tmp_path):
    path = roster(tmp_path, "class.csv")
    # The same bytes, sent earlier by someone else under another name, already processed.
    login = stack.district_login
    token = cognito.authenticate(
        cognito.CersCredentials.model_validate(
            {key: login[key] for key in ("username", "password", "client_id", "region")}
        )
    )
    with CersClient(stack.standin.endpoint, token) as client, path.open("rb") as body:
        earlier = client.submit_roster("by-hand.csv", body, path.stat().st_size)
    stack.standin.process(earlier.id)
    stack.drop(path)

    stack.run()

    submission = only(stack)
    assert (submission["status"], submission["cers_import_id"]) == ("DUPLICATE", earlier.id)
    assert "by-hand.csv" in submission["note"]
    assert posts(stack) == [202, 202]
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 1)


# --- order ---------------------------------------------------------------------------------


def test_upload_waits_while_the_districts_previous_file_is_accepted(stack, tmp_path):
    stack.drop(roster(tmp_path, "first.csv", group="Same_Group"))
    stack.run()
    stack.drop(roster(tmp_path, "second.csv", group="Same_Group", students=2))
    stack.run()
    assert by_name(stack)["second.csv"]["status"] == "WAITING"
    assert posts(stack) == [202]

    stack.standin.process(1)
    stack.run()

    first, second = by_name(stack)["first.csv"], by_name(stack)["second.csv"]
    assert (first["status"], second["status"]) == ("PROCESSED", "ACCEPTED")
    assert second["sent_at"] > stack.standin.get_import(1).updated.isoformat()[:23]
    assert posts(stack) == [202, 202]
    assert_nothing_lost(stack, 2)


def test_upload_still_accepted_past_the_deadline_is_stuck_and_stops_holding(
    stack, tmp_path, monkeypatch, capsys
):
    stack.drop(roster(tmp_path, "first.csv", group="First"))
    stack.run()
    stack.drop(roster(tmp_path, "second.csv", group="Second"))
    stack.run()
    assert by_name(stack)["second.csv"]["status"] == "WAITING"
    monkeypatch.setenv(DEADLINE_ENV, "2")
    time.sleep(2.1)
    capsys.readouterr()

    stack.run()

    first, second = by_name(stack)["first.csv"], by_name(stack)["second.csv"]
    assert (first["status"], second["status"]) == ("STUCK", "ACCEPTED")
    assert posts(stack) == [202, 202]
    [email] = stack.alert_emails()
    assert "still unfinished at CERS" in email["subject"]
    stuck = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if '"SubmissionsStuck"' in line
    ]
    assert stuck[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["district"]]
    assert {(doc["district"], doc["SubmissionsStuck"][0]) for doc in stuck} == {("sample-usd", 1.0)}
    assert_nothing_lost(stack, 2)


def test_upload_stuck_file_rejected_later_alerts_again_as_bad_data(stack, tmp_path, monkeypatch):
    stack.drop(roster(tmp_path, "class.csv"))
    stack.run()
    monkeypatch.setenv(DEADLINE_ENV, "0")
    stack.run()
    assert only(stack)["status"] == "STUCK"

    stack.standin.process(1, failure="Unable to locate GROUPS/xx/yy via the archive service")
    stack.run()

    assert only(stack)["status"] == "BAD_DATA"
    subjects = [email["subject"] for email in stack.alert_emails()]
    assert len(subjects) == 2
    assert "still unfinished at CERS" in subjects[0]
    assert "was rejected by CERS" in subjects[1]
    assert_nothing_lost(stack, 1)


# --- following through ---------------------------------------------------------------------


def test_poller_moves_accepted_to_processed(processing_stack, tmp_path):
    stack = processing_stack
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert submission["status"] == "PROCESSED"
    steps = [step["status"] for step in submission["history"]]
    assert steps[-2:] == ["ACCEPTED", "PROCESSED"]
    assert posts(stack) == [202]
    assert_nothing_lost(stack, 1)


def test_poller_bad_data_after_accepted_alerts_once(processing_stack, tmp_path):
    stack = processing_stack
    stack.standin.processing_failure = "Data truncation: Data too long for column 'group_name'"
    stack.drop(roster(tmp_path, "class.csv"))

    stack.run()

    submission = only(stack)
    assert submission["status"] == "BAD_DATA"
    assert posts(stack) == [202]
    [email] = stack.alert_emails()
    assert "was rejected by CERS" in email["subject"]
    assert_nothing_lost(stack, 1)


def test_poller_falls_back_to_the_import_by_id_and_takes_403_calmly(stack, tmp_path):
    stack.drop(roster(tmp_path, "class.csv"))
    stack.run(follow=False)
    submission = only(stack)
    boto3.resource("dynamodb").Table(stack.resources.table).update_item(
        Key={"submission_id": submission["submission_id"]},
        UpdateExpression="SET cers_batch = :other",
        ExpressionAttributeValues={":other": "a-batch-cers-does-not-know"},
    )

    stack.poll()

    assert only(stack)["status"] == "ACCEPTED"
    by_id = [request for request in stack.standin.requests if request.path == "/imports/1"]
    assert [request.http_status for request in by_id] == [403]
    assert stack.alert_emails() == []
    assert_nothing_lost(stack, 1)
