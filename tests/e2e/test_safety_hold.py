"""Safety hold end to end: real handlers, moto's server and the CERS stand-in over HTTP.

The baseline is set up as in production: a roster goes through the stack, the stand-in
processes its import, and the submission steps from ACCEPTED to PROCESSED.
"""

import json
from pathlib import Path

import boto3
import pytest

from cers_groups.handlers import validator
from cers_groups.operations import Operations
from cers_groups.submissions import SubmissionStore
from local_stack.lambda_runner import LambdaContext, sqs_event
from local_stack.stack import TENANTS_TEMPLATE, local_stack
from tests import flows
from tests.flows import process, processed_upload
from tests.rosters import SCHOOL_A, SCHOOL_B, write_roster

BASELINE = {(SCHOOL_A, f"Gr{n}_Math") for n in range(4)} | {(SCHOOL_B, "Gr9_ELA")}


@pytest.fixture
def stack():
    with local_stack() as running:
        yield running


def baseline_groups() -> dict[tuple[str, str], int]:
    return dict.fromkeys(sorted(BASELINE), 20)


def process_baseline(stack, tmp_path: Path, groups: dict | None = None) -> dict:
    return processed_upload(stack, tmp_path, groups or baseline_groups())


def drop_and_run(stack, tmp_path: Path, groups: dict, name: str = "next.csv") -> dict:
    return flows.drop_and_run(stack, tmp_path, groups, name)


def report(stack, key: str) -> dict:
    return flows.report(stack, key)


def test_safety_hold_first_upload_is_sent_and_its_counts_kept(stack, tmp_path):
    submission = drop_and_run(stack, tmp_path, baseline_groups(), "first.csv")

    assert submission["status"] == "ACCEPTED"
    counts = report(stack, f"reports/{submission['submission_id']}/groups.json")
    assert counts["totals"] == {"groups": 5, "students": 100}
    assert {(g["school"], g["group"], g["students"], g["users"]) for g in counts["groups"]} == {
        (school, group, 20, 1) for school, group in BASELINE
    }


def test_safety_hold_group_losing_most_students_is_held_with_one_alert(stack, tmp_path):
    baseline = process_baseline(stack, tmp_path)
    shrunk = {**baseline_groups(), (SCHOOL_A, "Gr1_Math"): 5, (SCHOOL_B, "Gr9_ELA"): 0}

    held = drop_and_run(stack, tmp_path, shrunk)

    assert held["status"] == "ON_HOLD"
    assert held["pending"] == "ON_HOLD"
    assert [step["status"] for step in held["history"]] == ["RECEIVED", "VALIDATED", "ON_HOLD"]
    assert len(stack.standin.received) == 1, "the held file must not reach CERS"
    hold = held["hold"]
    assert hold["baseline"] == baseline["submission_id"]
    assert (hold["groups_emptied"], hold["groups_shrunk"]) == (1, 1)
    assert (hold["members_before"], hold["members_after"]) == (100, 65)
    diff = report(stack, hold["diff_key"])
    assert [(g["group"], g["flag"]) for g in diff["groups"]] == [
        ("Gr9_ELA", "empty"),
        ("Gr1_Math", "shrinks"),
    ]
    [email] = stack.alert_emails()
    assert email["subject"] == "CERS groups [sample-usd] next.csv on hold"
    assert email["audience"] == "sample-usd"
    assert "1 group would become empty" in email["body"]
    assert "students in the last upload's groups: 100 -> 65 (-35%)" in email["body"]
    assert hold["diff_key"] in email["body"]
    assert not any(value in email["body"] for value in (SCHOOL_A, SCHOOL_B, "Gr9_ELA", "Gr1"))


def test_safety_hold_total_drop_over_the_threshold_is_held(stack, tmp_path):
    process_baseline(stack, tmp_path)

    held = drop_and_run(stack, tmp_path, dict.fromkeys(sorted(BASELINE), 14))

    assert held["status"] == "ON_HOLD"
    assert (held["hold"]["groups_shrunk"], held["hold"]["members_after"]) == (0, 70)


def test_safety_hold_groups_missing_from_the_new_file_are_not_drops(stack, tmp_path):
    process_baseline(stack, tmp_path)

    sent = drop_and_run(stack, tmp_path, {(SCHOOL_A, "Gr0_Math"): 19})

    assert sent["status"] == "ACCEPTED"
    assert "hold" not in sent
    assert len(stack.standin.received) == 2
    assert stack.alert_emails() == []


def test_safety_hold_compares_with_the_latest_processed_upload(stack, tmp_path):
    process_baseline(stack, tmp_path, dict.fromkeys(sorted(BASELINE), 40))
    second = drop_and_run(stack, tmp_path, dict.fromkeys(sorted(BASELINE), 36), "second.csv")
    process(stack, second)

    held = drop_and_run(stack, tmp_path, dict.fromkeys(sorted(BASELINE), 18), "third.csv")

    assert held["status"] == "ON_HOLD"
    assert held["hold"]["baseline"] == second["submission_id"]
    assert held["hold"]["members_before"] == 180


def test_safety_hold_accepted_but_unprocessed_upload_is_no_baseline(stack, tmp_path):
    drop_and_run(stack, tmp_path, baseline_groups(), "accepted-only.csv")

    sent = drop_and_run(stack, tmp_path, dict.fromkeys(sorted(BASELINE), 1))

    # Not held for the drop; it waits only because the first file is still ACCEPTED at CERS.
    assert sent["status"] == "WAITING"
    assert "hold" not in sent


def test_safety_hold_disabled_for_the_district_sends_the_file(tmp_path):
    template = json.loads(TENANTS_TEMPLATE.read_text())
    template["districts"][0]["hold"] = {"enabled": False}
    (tmp_path / "tenants.json").write_text(json.dumps(template))
    with local_stack(tenants_template=tmp_path / "tenants.json") as stack:
        process_baseline(stack, tmp_path)

        sent = drop_and_run(stack, tmp_path, dict.fromkeys(sorted(BASELINE), 0))

        assert sent["status"] == "ACCEPTED"
        assert report(stack, f"reports/{sent['submission_id']}/groups.json")["totals"] == {
            "groups": 5,
            "students": 0,
        }


def test_safety_hold_redelivered_event_keeps_the_hold_and_one_alert(stack, tmp_path):
    process_baseline(stack, tmp_path)
    stack.drop(write_roster(tmp_path / "next.csv", dict.fromkeys(sorted(BASELINE), 1)))
    event = receive_validate_event(stack)

    for _ in range(3):
        validator.lambda_handler(event, LambdaContext("validator"))

    held = next(item for item in stack.submissions() if item["key"].endswith("next.csv"))
    assert held["status"] == "ON_HOLD"
    assert [step["status"] for step in held["history"]].count("ON_HOLD") == 1
    assert len(stack.alert_emails()) == 1
    assert _queued(stack.resources.upload_queue_url) == 0


def receive_validate_event(stack) -> dict:
    sqs, queue_url = boto3.client("sqs"), stack.resources.validate_queue_url
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return sqs_event(messages, arn["Attributes"]["QueueArn"], sqs.meta.region_name)


def _queued(queue_url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_safety_hold_released_file_is_not_held_again_by_a_redelivered_event(stack, tmp_path):
    process_baseline(stack, tmp_path)
    stack.drop(write_roster(tmp_path / "next.csv", dict.fromkeys(sorted(BASELINE), 1)))
    event = receive_validate_event(stack)
    validator.lambda_handler(event, LambdaContext("validator"))
    [held] = [item for item in stack.submissions() if item["status"] == "ON_HOLD"]

    Operations(stack.deployment()).release(held["submission_id"], operator="test")
    validator.lambda_handler(event, LambdaContext("validator"))  # SQS delivers it again
    stack.run()

    item = SubmissionStore(stack.resources.table).get(held["submission_id"])
    assert item["status"] == "ACCEPTED"
    assert [step["status"] for step in item["history"]].count("ON_HOLD") == 1
    assert len(stack.standin.received) == 2
    assert len(stack.alert_emails()) == 1
