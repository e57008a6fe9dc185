"""The scheduled handlers on the local stack: the daily summary and the alert subscription check.

Both are called with the event an EventBridge schedule delivers.
"""

import copy
import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from cers_groups.handlers import alert_subscriptions, daily_summary
from local_stack.lambda_runner import LambdaContext
from local_stack.moto_server import REGION
from local_stack.stack import TENANTS_TEMPLATE, local_stack

ROOT = Path(__file__).parents[2]
SAMPLES = ROOT / "local_stack" / "samples"
VALID = SAMPLES / "valid_roster.csv"
INVALID = SAMPLES / "invalid_roster.csv"
SCHEDULED = json.loads((ROOT / "tests" / "events" / "scheduled_event.json").read_text())
OPERATOR = "cers-ops@vendor.example.org"
SAMPLE_IT = "district-it@sampleusd.example.org"


@pytest.fixture
def stack(tmp_path):
    """The local stack with a second district; only sample-usd asks for the daily summary."""
    document = json.loads(TENANTS_TEMPLATE.read_text())
    document["districts"][0]["daily_summary"] = True
    quiet = {**document["districts"][0], "id": "quiet-usd", "daily_summary": False}
    quiet["alert_emails"] = ["it@quietusd.example.org"]
    document["districts"].append(quiet)
    template = tmp_path / "tenants.json"
    template.write_text(json.dumps(document))
    with local_stack(tenants_template=template) as running:
        yield running


def scheduled_event(at: datetime) -> dict:
    event = copy.deepcopy(SCHEDULED)
    event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


def sample_values(column: int) -> set[str]:
    values = set()
    for roster in (VALID, INVALID):
        with roster.open(newline="") as handle:
            values.update(row[column] for row in list(csv.reader(handle))[1:] if len(row) > 5)
    return values - {""}


def emitted_metrics(output: str) -> dict[str, list[float]]:
    """The values of the CloudWatch metrics (embedded metric format) the handler printed."""
    found: dict[str, list[float]] = {}
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                found.setdefault(metric["Name"], []).extend(document[metric["Name"]])
    return found


def mark_pending(address: str) -> None:
    """moto confirms every subscription at once; put this one back in the state AWS lists an
    e-mail subscription in until its address follows the confirmation link."""
    backend = sns_backends[DEFAULT_ACCOUNT_ID][REGION]
    [subscription] = [item for item in backend.subscriptions.values() if item.endpoint == address]
    subscription.arn = "PendingConfirmation"


def test_daily_summary_mails_each_district_that_asks_with_counts_and_file_names(stack):
    stack.drop(VALID)
    stack.drop(INVALID)
    stack.drop(VALID, name="second-try.csv", district="quiet-usd")
    stack.run()
    stack.alert_emails()  # the INVALID file's own alert

    answer = daily_summary.lambda_handler(
        scheduled_event(datetime.now(UTC) + timedelta(minutes=1)), LambdaContext("summary")
    )

    assert answer == {"districts": ["sample-usd"]}
    [email] = stack.alert_emails()
    assert email["audience"] == "sample-usd"
    assert email["subject"] == (
        "CERS groups [sample-usd] daily summary: 1 file sent to CERS, 1 failed"
    )
    body = email["body"]
    assert ": 2 files." in body
    assert "By status: ACCEPTED 1, INVALID 1." in body
    assert "Sent to CERS: 1 file:\n  - valid_roster.csv, ACCEPTED, 100 data rows, CERS import" in (
        body
    )
    assert "  - invalid_roster.csv, INVALID, submission " in body
    assert "second-try.csv" not in body
    assert not any(value in body for value in sample_values(4) | sample_values(5))


def test_daily_summary_covers_only_the_24_hours_before_the_schedule(stack):
    stack.drop(VALID)
    stack.run()

    daily_summary.lambda_handler(
        scheduled_event(datetime.now(UTC) + timedelta(hours=25)), LambdaContext("summary")
    )

    [email] = stack.alert_emails()
    assert "0 files sent to CERS, 0 failed" in email["subject"]
    assert "No file arrived: check that the SIS export ran." in email["body"]


def test_subscription_check_tells_operators_about_pending_and_missing_addresses(stack, capsys):
    sns = boto3.client("sns")
    mark_pending(SAMPLE_IT)
    listed = sns.list_subscriptions_by_topic(TopicArn=stack.resources.topic_arn)
    [quiet] = [s for s in listed["Subscriptions"] if s["Endpoint"] == "it@quietusd.example.org"]
    sns.unsubscribe(SubscriptionArn=quiet["SubscriptionArn"])
    capsys.readouterr()

    answer = alert_subscriptions.lambda_handler(
        scheduled_event(datetime.now(UTC)), LambdaContext("s")
    )

    assert answer == {"pending": [SAMPLE_IT], "missing": ["it@quietusd.example.org"]}
    [email] = stack.alert_emails()
    assert email["audience"] == "operators"
    assert email["subject"] == "CERS groups [operators] 2 alert addresses not receiving alerts"
    assert f"  - {SAMPLE_IT} (alerts of sample-usd)" in email["body"]
    assert "  - it@quietusd.example.org (alerts of quiet-usd)" in email["body"]
    assert OPERATOR not in email["body"]
    assert emitted_metrics(capsys.readouterr().out) == {
        "AlertSubscriptionsPending": [1.0],
        "AlertSubscriptionsMissing": [1.0],
    }


def test_subscription_check_is_quiet_when_every_address_confirmed(stack, capsys):
    capsys.readouterr()

    answer = alert_subscriptions.lambda_handler(
        scheduled_event(datetime.now(UTC)), LambdaContext("s")
    )

    assert answer == {"pending": [], "missing": []}
    assert stack.alert_emails() == []
    assert emitted_metrics(capsys.readouterr().out) == {
        "AlertSubscriptionsPending": [0.0],
        "AlertSubscriptionsMissing": [0.0],
    }
