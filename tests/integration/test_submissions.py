from datetime import UTC, datetime, timedelta

import boto3
import pytest

from cers_groups.resources import SUBMISSION_EXPIRY
from cers_groups.submissions import Status, SubmissionStore, expires_at, needs_alert
from local_stack.moto_server import moto_server
from local_stack.resources import create_submissions_table


@pytest.fixture
def store():
    with moto_server():
        yield SubmissionStore(create_submissions_table("submissions-test"))


def test_create_twice_keeps_the_first(store):
    assert store.create("sub-1", key="incoming/a.csv", district="d1") is True
    assert store.create("sub-1", key="incoming/b.csv", district="d1") is False

    assert store.get("sub-1")["key"] == "incoming/a.csv"


def test_advance_only_from_the_expected_status(store):
    store.create("sub-1", key="incoming/a.csv", district="d1")

    assert store.advance("sub-1", Status.RECEIVED, Status.VALIDATED, rows=3) is True
    assert store.advance("sub-1", Status.RECEIVED, Status.INVALID) is False

    item = store.get("sub-1")
    assert item["status"] == "VALIDATED"
    assert item["rows"] == 3
    assert [step["status"] for step in item["history"]] == ["RECEIVED", "VALIDATED"]


def test_only_one_of_two_racing_uploads_takes_the_file(store):
    store.create("sub-1", key="incoming/a.csv", district="d1")
    store.advance("sub-1", Status.RECEIVED, Status.VALIDATED)

    outcomes = [store.advance("sub-1", Status.VALIDATED, Status.UPLOADING) for _ in range(2)]

    assert outcomes == [True, False]


def test_failed_submission_needs_one_alert(store):
    store.create("sub-1", key="incoming/a.csv", district="d1")
    store.advance("sub-1", Status.RECEIVED, Status.INVALID)
    assert needs_alert(store.get("sub-1")) is True

    store.mark_alerted("sub-1")

    assert needs_alert(store.get("sub-1")) is False


def test_pending_index_lists_only_waiting_submissions(store):
    store.create("sub-1", key="incoming/d1/a.csv", district="d1")
    store.advance("sub-1", Status.RECEIVED, Status.VALIDATED)
    store.advance("sub-1", Status.VALIDATED, Status.UPLOADING)

    store.advance("sub-1", Status.UPLOADING, Status.ACCEPTED)
    assert store.get("sub-1")["pending"] == "ACCEPTED"

    store.advance("sub-1", Status.ACCEPTED, Status.PROCESSED)
    assert "pending" not in store.get("sub-1")


def test_create_with_ttl_days_sets_the_expiry_epoch(store):
    store.create("sub-1", ttl_days=30, key="incoming/d1/a.csv", district="d1")

    item = store.get("sub-1")
    created = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
    assert item[SUBMISSION_EXPIRY] == int((created + timedelta(days=30)).timestamp())


def test_create_without_ttl_days_never_expires(store):
    store.create("sub-1", key="incoming/d1/a.csv", district="d1")

    assert SUBMISSION_EXPIRY not in store.get("sub-1")


def test_table_expires_submissions_on_the_expiry_attribute(store):
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName="submissions-test")

    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": SUBMISSION_EXPIRY,
    }


def test_expires_at_counts_whole_days_from_creation():
    created = datetime(2026, 12, 3, 16, 30, 0, 500_000, tzinfo=UTC)

    assert expires_at(created, 1) == int(datetime(2026, 12, 4, 16, 30, 0, tzinfo=UTC).timestamp())
