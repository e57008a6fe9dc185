import boto3
import pytest

from cers_groups.submissions import SubmissionStore
from local_stack.moto_server import moto_server
from local_stack.resources import create_submissions_table


@pytest.fixture
def store():
    with moto_server():
        table = create_submissions_table("submissions-test")
        items = [
            ("a", "north-usd", "2026-12-02T13:59:59.999Z"),
            ("b", "north-usd", "2026-12-02T14:00:00.000Z"),
            ("c", "south-usd", "2026-12-02T20:00:00.000Z"),
            ("d", "north-usd", "2026-12-03T13:59:59.999Z"),
            ("e", "north-usd", "2026-12-03T14:00:00.000Z"),
        ]
        for submission_id, district, created_at in items:
            boto3.resource("dynamodb").Table(table).put_item(
                Item={
                    "submission_id": submission_id,
                    "district": district,
                    "created_at": created_at,
                    "status": "ACCEPTED",
                }
            )
        yield SubmissionStore(table)


def test_created_between_is_one_districts_window_start_included_end_excluded(store):
    found = store.created_between(
        "north-usd", "2026-12-02T14:00:00.000Z", "2026-12-03T14:00:00.000Z"
    )

    assert [item["submission_id"] for item in found] == ["b", "d"]


def test_created_between_reads_every_page(store):
    table = boto3.resource("dynamodb").Table("submissions-test")
    with table.batch_writer() as batch:
        for number in range(300):
            batch.put_item(
                Item={
                    "submission_id": f"bulk-{number:03}",
                    "district": "bulk-usd",
                    "created_at": f"2026-12-02T15:00:00.{number:03}Z",
                    "status": "ACCEPTED",
                    "padding": "x" * 4000,
                }
            )

    found = store.created_between(
        "bulk-usd", "2026-12-02T00:00:00.000Z", "2026-12-03T00:00:00.000Z"
    )

    assert len(found) == 300
