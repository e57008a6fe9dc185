"""The operator commands against the local stack: moto's server, the CERS stand-in, the real
handlers. The command line finds the stack from the file ``make local`` writes."""

import json
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from cers_groups import cli
from cers_groups.deployment import LOCAL_FILE_ENV, write_local_file
from cers_groups.ops_cli import ExitCode
from cers_groups.submissions import Status, SubmissionStore
from local_stack.lambda_runner import poll_once
from local_stack.stack import TENANTS_TEMPLATE, local_stack
from tests.flows import drop_and_run, process, processed_upload, report
from tests.rosters import SCHOOL_A, SCHOOL_B, write_roster

SAMPLES = Path(__file__).parents[2] / "local_stack" / "samples"
VALID, INVALID = SAMPLES / "valid_roster.csv", SAMPLES / "invalid_roster.csv"
GROUPS = {(SCHOOL_A, "Gr1_Math"): 20, (SCHOOL_A, "Gr2_Math"): 20, (SCHOOL_B, "Gr3_ELA"): 20}
SHRUNK = {**GROUPS, (SCHOOL_A, "Gr1_Math"): 2}

runner = CliRunner()


@pytest.fixture
def stack(tmp_path):
    """The local stack with two districts: sample-usd (first) and north-usd."""
    template = json.loads(TENANTS_TEMPLATE.read_text())
    template["districts"].append({"id": "north-usd", "rules": {"school_years": [2027]}})
    (tmp_path / "tenants-template.json").write_text(json.dumps(template))
    with local_stack(tenants_template=tmp_path / "tenants-template.json") as running:
        write_local_file(tmp_path / ".local-stack.json", running.deployment())
        yield running


@pytest.fixture
def run(tmp_path, stack):
    """Runs ``cers-groups`` against the local stack, as with CERS_GROUPS_LOCAL set."""

    def invoke(*args: object, env: dict | None = None):
        environment = {LOCAL_FILE_ENV: str(tmp_path / ".local-stack.json"), **(env or {})}
        return runner.invoke(cli.app, [str(arg) for arg in args], env=environment)

    return invoke


def held_submission(stack, tmp_path) -> dict:
    processed_upload(stack, tmp_path, GROUPS)
    held = drop_and_run(stack, tmp_path, SHRUNK, "shrunk.csv")
    assert held["status"] == "ON_HOLD"
    stack.alert_emails()  # the hold alert; tests look at what comes after it
    return held


def one_line_error(result, code: ExitCode, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr


# --- submit -----------------------------------------------------------------------------------


def test_cli_submit_drops_the_file_into_the_districts_folder(stack, run):
    result = run("submit", VALID, "--tenant", "north-usd", "--as", "spring.csv")

    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.startswith(
        f"Dropped s3://{stack.resources.bucket}/incoming/north-usd/spring.csv (version "
    )
    stack.run()
    [submission] = stack.submissions()
    assert (submission["district"], submission["status"]) == ("north-usd", "ACCEPTED")


def test_cli_submit_unknown_district_names_the_known_ones(run):
    result = run("submit", VALID, "--tenant", "south-usd")

    one_line_error(result, ExitCode.NOT_FOUND, "no district 'south-usd'", "sample-usd, north-usd")


def test_cli_submit_missing_file_is_a_usage_error(run, tmp_path):
    result = run("submit", tmp_path / "nope.csv", "--tenant", "sample-usd")

    one_line_error(result, ExitCode.USAGE, "nope.csv: no such file")


# --- status -----------------------------------------------------------------------------------


def test_cli_status_shows_one_submission_in_detail(stack, run):
    stack.drop(INVALID)
    stack.run()
    [submission] = stack.submissions()

    result = run("status", submission["submission_id"])

    assert result.exit_code == ExitCode.OK, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Submission {submission['submission_id']}"
    assert "  district    sample-usd" in lines
    count = submission["problem_count"]
    assert f"  status      INVALID, {count} problems since {submission['updated_at']}" in lines
    first = submission["problems"][0]
    assert any(
        line.startswith(f"  problem     row {first['row']} [{first['rule']}]") for line in lines
    )


def test_cli_status_json_is_the_item(stack, run):
    stack.drop(VALID)
    stack.run()
    [submission] = stack.submissions()

    result = run("status", submission["submission_id"], "--json")

    document = json.loads(result.stdout)
    assert document["status"] == "ACCEPTED"
    assert document["rows"] == 100
    assert document["cers_import_id"] == int(submission["cers_import_id"])
    assert [step["status"] for step in document["history"]] == [
        "RECEIVED",
        "VALIDATED",
        "UPLOADING",
        "ACCEPTED",
    ]


def test_cli_status_without_id_lists_pending_across_districts(stack, run, tmp_path):
    held = held_submission(stack, tmp_path)
    north = {(SCHOOL_B, "Gr7_ELA"): 5}
    accepted = drop_and_run(stack, tmp_path, north, "north.csv", district="north-usd")

    result = run("status", "--json")
    plain = run("status")

    assert result.exit_code == ExitCode.OK
    pending = [(item["submission_id"], item["status"]) for item in json.loads(result.stdout)]
    assert pending == [(held["submission_id"], "ON_HOLD"), (accepted["submission_id"], "ACCEPTED")]
    assert plain.exit_code == ExitCode.OK
    assert held["submission_id"] in plain.stdout and "north-usd" in plain.stdout
    assert plain.stdout.splitlines()[-1] == "2 pending. Details: `cers-groups status SUBMISSION`."


def test_cli_status_of_a_held_submission_gives_the_hold_and_the_next_step(stack, run, tmp_path):
    held = held_submission(stack, tmp_path)

    result = run("status", held["submission_id"])

    assert "  hold        1 group would lose more than 50% of their students" in result.stdout
    assert f"cers-groups release {held['submission_id']}" in result.stdout
    assert SCHOOL_A not in result.stdout


def test_cli_status_rejects_a_malformed_id(run):
    one_line_error(run("status", "roster.csv"), ExitCode.USAGE, "'roster.csv' is not a")


def test_cli_status_unknown_id_is_not_found(run):
    result = run("status", "20261203T101500Z-0123456789ab")

    one_line_error(result, ExitCode.NOT_FOUND, "no submission 20261203T101500Z-0123456789ab")


# --- history ----------------------------------------------------------------------------------


def test_cli_history_lists_a_districts_submissions_newest_first(stack, run, tmp_path):
    first = drop_and_run(stack, tmp_path, GROUPS, "first.csv")
    second = drop_and_run(stack, tmp_path, GROUPS, "other.csv", district="north-usd")
    third = drop_and_run(stack, tmp_path, GROUPS, "third.csv")

    result = run("history", "--tenant", "sample-usd", "--json")
    since = run("history", "-t", "sample-usd", "--since", third["created_at"], "--json")

    assert [item["submission_id"] for item in json.loads(result.stdout)] == [
        third["submission_id"],
        first["submission_id"],
    ]
    assert [item["submission_id"] for item in json.loads(since.stdout)] == [third["submission_id"]]
    assert second["submission_id"] not in result.stdout


def test_cli_history_by_digest_finds_the_same_bytes(stack, run, tmp_path):
    first = drop_and_run(stack, tmp_path, GROUPS, "first.csv")
    drop_and_run(stack, tmp_path, SHRUNK, "other.csv")
    again = drop_and_run(stack, tmp_path, GROUPS, "again.csv")

    result = run("history", "-t", "sample-usd", "--digest", first["digest"].lower(), "--json")

    found = [item["submission_id"] for item in json.loads(result.stdout)]
    assert found == [again["submission_id"], first["submission_id"]]


def test_cli_history_plain_shows_a_table(stack, run):
    stack.drop(VALID)
    stack.run()

    result = run("history", "--tenant", "sample-usd")

    header, row = result.stdout.splitlines()
    assert header.split() == ["created", "submission", "file", "status", "rows", "problems"]
    assert row.split()[2:] == ["valid_roster.csv", "ACCEPTED", "100", "0"]


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--since", "last week", "--since 'last week' is neither a time nor an age"),
        ("--digest", "abc", "--digest 'abc' is not an MD5 digest"),
    ],
)
def test_cli_history_bad_option_values_are_usage_errors(run, option, value, fragment):
    result = run("history", "--tenant", "sample-usd", option, value)

    one_line_error(result, ExitCode.USAGE, fragment)


# --- report -----------------------------------------------------------------------------------


def test_cli_report_prints_the_reports_of_a_held_file(stack, run, tmp_path):
    held = held_submission(stack, tmp_path)

    result = run("report", held["submission_id"])

    assert result.exit_code == ExitCode.OK, result.output
    out = result.stdout
    assert f"s3://{stack.resources.bucket}/reports/{held['submission_id']}/hold.json" in out
    assert "Validation: valid, 45 rows, 0 problems" in out
    assert "Groups: 3 groups, 42 students." in out
    assert "Safety hold: held, compared with submission" in out
    assert [line.split() for line in out.splitlines() if "Gr1_Math" in line] == [
        [SCHOOL_A, "Gr1_Math", "2027", "20", "2", "shrinks"]
    ]


def test_cli_report_json_holds_every_document(stack, run, tmp_path):
    held = held_submission(stack, tmp_path)

    document = json.loads(run("report", held["submission_id"], "--json").stdout)

    assert set(document["documents"]) == {"validation.json", "groups.json", "hold.json"}
    assert document["documents"]["hold.json"] == report(stack, held["hold"]["diff_key"])


def test_cli_report_output_saves_the_html_page(stack, run, tmp_path):
    stack.drop(VALID)
    stack.run()
    [submission] = stack.submissions()
    key = f"reports/{submission['submission_id']}/report.html"
    page = boto3.client("s3").get_object(Bucket=stack.resources.bucket, Key=key)["Body"].read()

    result = run("report", submission["submission_id"], "--output", tmp_path / "page.html")

    assert result.exit_code == ExitCode.OK, result.output
    assert (tmp_path / "page.html").read_bytes() == page
    assert f"HTML page saved to {tmp_path / 'page.html'}" in result.stdout


def test_cli_report_output_without_a_page_is_not_found(stack, run, tmp_path):
    stack.drop(VALID)
    stack.run()
    [submission] = stack.submissions()
    s3 = boto3.client("s3")
    key = f"reports/{submission['submission_id']}/report.html"
    for version in s3.list_object_versions(Bucket=stack.resources.bucket, Prefix=key)["Versions"]:
        s3.delete_object(Bucket=stack.resources.bucket, Key=key, VersionId=version["VersionId"])

    result = run("report", submission["submission_id"], "-o", tmp_path / "page.html")

    one_line_error(result, ExitCode.NOT_FOUND, "has no HTML page")
    assert not (tmp_path / "page.html").exists()


# --- release, reject, resend ------------------------------------------------------------------


def test_cli_release_sends_a_held_file_once(stack, run, tmp_path):
    held = held_submission(stack, tmp_path)

    result = run("release", held["submission_id"])
    stack.run()

    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.startswith(f"Released {held['submission_id']}: queued for upload")
    item = SubmissionStore(stack.resources.table).get(held["submission_id"])
    assert item["status"] == "ACCEPTED"
    assert [step["status"] for step in item["history"]] == [
        "RECEIVED",
        "VALIDATED",
        "ON_HOLD",
        "VALIDATED",
        "UPLOADING",
        "ACCEPTED",
    ]
    assert item["released_by"].startswith("arn:aws:")
    assert "pending" not in item or item["pending"] == "ACCEPTED"
    batches = [post.batch for post in stack.standin.received]
    assert [batch.rsplit("-", 1)[-1] for batch in batches] == ["baseline.csv", "shrunk.csv"]
    assert stack.alert_emails() == []


def test_cli_release_twice_fails_the_second_time(stack, run, tmp_path):
    held = held_submission(stack, tmp_path)
    run("release", held["submission_id"])
    stack.run()

    result = run("release", held["submission_id"])

    one_line_error(result, ExitCode.WRONG_STATUS, "is ACCEPTED, not ON_HOLD")
    assert len(stack.standin.received) == 2


def test_cli_release_after_a_newer_file_was_sent_needs_force(stack, run, tmp_path):
    held = held_submission(stack, tmp_path)
    newer = drop_and_run(stack, tmp_path, {**GROUPS, (SCHOOL_B, "Gr4_ELA"): 3}, "newer.csv")
    assert newer["status"] == "ACCEPTED"

    refused = run("release", held["submission_id"])
    forced = run("release", held["submission_id"], "--force")
    stack.run()  # the released file waits while the newer one is still ACCEPTED at CERS
    stack.standin.process(int(newer["cers_import_id"]))
    stack.run()

    one_line_error(
        refused, ExitCode.WRONG_STATUS, f"(submission {newer['submission_id']}, ACCEPTED)"
    )
    assert forced.exit_code == ExitCode.OK, forced.output
    assert [post.batch for post in stack.standin.received][-1].endswith("-shrunk.csv")


def test_cli_release_again_requeues_a_release_whose_message_was_lost(stack, run, tmp_path):
    held = held_submission(stack, tmp_path)
    store = SubmissionStore(stack.resources.table)
    # An earlier release stepped the submission, then died before queueing it.
    store.advance(held["submission_id"], Status.ON_HOLD, Status.VALIDATED)

    result = run("release", held["submission_id"])
    stack.run()

    assert result.exit_code == ExitCode.OK, result.output
    assert store.get(held["submission_id"])["status"] == "ACCEPTED"


def test_cli_reject_cancels_a_held_file_without_an_alert(stack, run, tmp_path):
    held = held_submission(stack, tmp_path)

    result = run("reject", held["submission_id"], "--note", "export filter broken")
    stack.run()

    assert result.exit_code == ExitCode.OK, result.output
    item = SubmissionStore(stack.resources.table).get(held["submission_id"])
    assert (item["status"], item["note"]) == ("CANCELLED", "export filter broken")
    assert "pending" not in item
    assert stack.alert_emails() == []
    assert len(stack.standin.received) == 1
    assert json.loads(run("status", "--json").stdout) == []


def test_cli_reject_of_a_file_not_on_hold_is_refused(stack, run, tmp_path):
    sent = drop_and_run(stack, tmp_path, GROUPS, "sent.csv")

    result = run("reject", sent["submission_id"])

    one_line_error(result, ExitCode.WRONG_STATUS, "is ACCEPTED, not ON_HOLD")


def duplicate_submission(stack, tmp_path) -> dict:
    """A validated file the uploader did not send because CERS has its bytes (DUPLICATE)."""
    earlier = process(stack, drop_and_run(stack, tmp_path, GROUPS, "first.csv"))
    stack.drop(write_roster(tmp_path / "again.csv", GROUPS))
    validate_queue, upload_queue = stack.consumers()
    while poll_once(validate_queue):
        pass
    again = next(s for s in stack.submissions() if s["key"].endswith("again.csv"))
    assert again["digest"] == earlier["digest"]
    stack.run()  # the uploader finds these bytes PROCESSED already and sends nothing
    assert len(stack.standin.received) == 1
    duplicate = SubmissionStore(stack.resources.table).get(again["submission_id"])
    assert duplicate["status"] == Status.DUPLICATE
    return duplicate


def test_cli_resend_queues_a_forced_upload_of_a_duplicate(stack, run, tmp_path):
    duplicate = duplicate_submission(stack, tmp_path)

    result = run("resend", duplicate["submission_id"])

    assert result.exit_code == ExitCode.OK, result.output
    sqs = boto3.client("sqs")
    [message] = sqs.receive_message(
        QueueUrl=stack.resources.upload_queue_url, AttributeNames=["MessageGroupId"]
    )["Messages"]
    assert json.loads(message["Body"]) == {
        "submission_id": duplicate["submission_id"],
        "force": True,
    }
    assert message["Attributes"]["MessageGroupId"] == "sample-usd"
    sqs.change_message_visibility(
        QueueUrl=stack.resources.upload_queue_url,
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    stack.run()
    item = SubmissionStore(stack.resources.table).get(duplicate["submission_id"])
    # Sent again, and CERS answered with its earlier, processed import of the same bytes,
    # which is recorded as it is: still a duplicate, now with CERS's word for it.
    assert len(stack.standin.received) == 2
    assert item["status"] == "DUPLICATE"
    assert "note" in item


def test_cli_resend_of_a_file_that_is_not_a_duplicate_is_refused(stack, run, tmp_path):
    held = held_submission(stack, tmp_path)

    result = run("resend", held["submission_id"])

    one_line_error(result, ExitCode.WRONG_STATUS, "is ON_HOLD, not DUPLICATE")


# --- redrive ----------------------------------------------------------------------------------


def dead_letter(stack, monkeypatch, consumers) -> None:
    """Every delivery fails (the functions cannot read their tenants file) until the queue
    gives the message up to its dead-letter queue."""
    with monkeypatch.context() as broken:
        broken.setenv("TENANTS_FILE", "/nonexistent/tenants.json")
        for _ in range(40):
            for consumer in consumers:
                poll_once(consumer)
            if all(_count(c.queue_url) == 0 for c in consumers):
                return
            import time

            time.sleep(0.5)
    raise AssertionError("messages were not dead-lettered")


def _count(queue_url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_cli_redrive_moves_dead_letters_back_and_the_files_go_through(
    stack, run, tmp_path, monkeypatch
):
    validate_queue, upload_queue = stack.consumers()
    stack.drop(write_roster(tmp_path / "a.csv", GROUPS))
    while poll_once(validate_queue):
        pass
    stack.drop(write_roster(tmp_path / "b.csv", SHRUNK), district="north-usd")
    dead_letter(stack, monkeypatch, [validate_queue, upload_queue])
    assert _count(stack.resources.validate_dlq_url) == 1  # b.csv, not read yet
    assert _count(stack.resources.upload_dlq_url) == 1  # a.csv, validated

    result = run("redrive", "--json")
    stack.run()

    assert result.exit_code == ExitCode.OK, result.output
    moves = json.loads(result.stdout)
    assert (moves["validate"]["moved"], moves["upload"]["moved"]) == (1, 1)
    assert moves["upload"]["failed"] == []
    assert _count(stack.resources.validate_dlq_url) == _count(stack.resources.upload_dlq_url) == 0
    statuses = {item["key"].rsplit("/", 1)[-1]: item["status"] for item in stack.submissions()}
    assert statuses == {"a.csv": "ACCEPTED", "b.csv": "ACCEPTED"}


def test_cli_redrive_keeps_the_fifo_message_group(stack, run, tmp_path, monkeypatch):
    validate_queue, upload_queue = stack.consumers()
    stack.drop(write_roster(tmp_path / "a.csv", GROUPS), district="north-usd")
    while poll_once(validate_queue):
        pass
    dead_letter(stack, monkeypatch, [upload_queue])

    result = run("redrive", "--queue", "upload")

    assert result.stdout == (
        "upload: moved 1 message(s) from cers-groups-upload-dlq.fifo back to"
        " cers-groups-upload.fifo.\n"
    )
    [message] = boto3.client("sqs").receive_message(
        QueueUrl=stack.resources.upload_queue_url, AttributeNames=["MessageGroupId"]
    )["Messages"]
    assert message["Attributes"]["MessageGroupId"] == "north-usd"


def test_cli_redrive_unknown_queue_is_a_usage_error(run):
    one_line_error(run("redrive", "--queue", "alerts"), ExitCode.USAGE, "--queue 'alerts'")


# --- finding the deployment -------------------------------------------------------------------


def test_cli_local_stack_file_missing_says_how_to_start_one(run, tmp_path):
    result = run("status", env={LOCAL_FILE_ENV: str(tmp_path / "missing.json")})

    one_line_error(result, ExitCode.NO_DEPLOYMENT, "missing.json does not exist", "make local")


def test_cli_local_stack_not_running_says_so(stack, run, tmp_path):
    gone = stack.deployment()
    stopped = type(gone)(gone.description, gone.values, gone.districts, "http://127.0.0.1:9", None)
    write_local_file(tmp_path / "stopped.json", stopped)

    result = run("status", env={LOCAL_FILE_ENV: str(tmp_path / "stopped.json")})

    one_line_error(result, ExitCode.NO_DEPLOYMENT, "cannot reach", "make local")


def test_cli_finds_a_deployed_stack_from_its_outputs(stack, run, tmp_path):
    """A CloudFormation stack (on moto) whose outputs name the local resources stands for a
    deployment: without --local, the command line reads the resource names from it."""
    deployment = stack.deployment()
    outputs = {
        f"Output{number}": {"Value": value, "Description": env_var}
        for number, (env_var, value) in enumerate(deployment.values.items())
    }
    for district in deployment.districts:
        outputs[f"Secret{district.replace('-', '')}"] = {
            "Value": f"cers-groups/{district}/cers-credentials",
            "Description": f"CERS secret of district {district}",
        }
    template = {
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": outputs,
    }
    boto3.client("cloudformation").create_stack(
        StackName="CersGroupsTest", TemplateBody=json.dumps(template)
    )
    drop_and_run(stack, tmp_path, GROUPS, "deployed.csv", district="north-usd")

    result = run(
        "history",
        "-t",
        "north-usd",
        "--stack",
        "CersGroupsTest",
        "--json",
        env={LOCAL_FILE_ENV: ""},
    )
    missing = run("status", "--stack", "NoSuchStack", env={LOCAL_FILE_ENV: ""})

    assert result.exit_code == ExitCode.OK, result.output
    assert [item["key"] for item in json.loads(result.stdout)] == [
        "incoming/north-usd/deployed.csv"
    ]
    one_line_error(missing, ExitCode.NO_DEPLOYMENT, "stack NoSuchStack not found")
