"""The submissions table answers each ops question through its key or one index, over HTTP."""

import pytest

from cers_groups.queries import SubmissionQueries
from cers_groups.submissions import Status, SubmissionStore, digest_key
from local_stack.moto_server import moto_server
from local_stack.resources import create_submissions_table

DIGEST = "0123456789ABCDEF0123456789ABCDEF"


@pytest.fixture
def tables():
    with moto_server():
        name = create_submissions_table("submissions-test")
        yield SubmissionStore(name), SubmissionQueries(name)


def submit(store: SubmissionStore, submission_id: str, district: str, *steps: Status) -> dict:
    """A submission that went through ``steps`` after RECEIVED, with a validated digest."""
    store.create(submission_id, district=district, key=f"incoming/{district}/{submission_id}.csv")
    previous = Status.RECEIVED
    for step in steps:
        fields = {}
        if step == Status.VALIDATED:
            fields = {"digest": DIGEST, "district_digest": digest_key(district, DIGEST)}
        assert store.advance(submission_id, previous, step, **fields)
        previous = step
    return store.get(submission_id)


SENT = (Status.VALIDATED, Status.UPLOADING, Status.ACCEPTED)


def test_queries_by_district_newest_first_and_since(tables):
    store, queries = tables
    first = submit(store, "s1", "north-usd", Status.INVALID)
    submit(store, "s2", "south-usd", Status.INVALID)
    third = submit(store, "s3", "north-usd", *SENT)

    assert [item["submission_id"] for item in queries.by_district("north-usd")] == ["s3", "s1"]
    newer = queries.by_district("north-usd", since=third["created_at"])
    assert [item["submission_id"] for item in newer] == ["s3"]
    oldest = queries.by_district("north-usd", newest_first=False, limit=1)
    assert [item["submission_id"] for item in oldest] == [first["submission_id"]]


def test_queries_latest_in_a_status_skips_newer_ones_in_others(tables):
    store, queries = tables
    submit(store, "s1", "north-usd", *SENT, Status.PROCESSED)
    submit(store, "s2", "north-usd", *SENT, Status.PROCESSED)
    submit(store, "s3", "north-usd", *SENT)
    submit(store, "s4", "south-usd", *SENT, Status.PROCESSED)

    assert queries.latest("north-usd", Status.PROCESSED)["submission_id"] == "s2"
    assert queries.latest("east-usd", Status.PROCESSED) is None


def test_queries_by_digest_finds_the_same_bytes_of_one_district(tables):
    store, queries = tables
    submit(store, "s1", "north-usd", *SENT)
    submit(store, "s2", "north-usd", Status.VALIDATED)
    submit(store, "s3", "south-usd", Status.VALIDATED)

    found = queries.by_digest("north-usd", DIGEST.lower())

    assert [item["submission_id"] for item in found] == ["s1", "s2"]


def test_queries_pending_lists_accepted_and_held_across_districts(tables):
    store, queries = tables
    submit(store, "s1", "north-usd", *SENT)
    submit(store, "s2", "south-usd", Status.VALIDATED, Status.ON_HOLD)
    submit(store, "s3", "south-usd", *SENT, Status.PROCESSED)
    submit(store, "s4", "north-usd", Status.VALIDATED, Status.ON_HOLD, Status.CANCELLED)

    pending = queries.pending()

    assert [(item["submission_id"], item["pending"]) for item in pending] == [
        ("s1", "ACCEPTED"),
        ("s2", "ON_HOLD"),
    ]
    assert [item["submission_id"] for item in queries.pending([Status.ON_HOLD])] == ["s2"]


def test_queries_page_through_more_than_one_response(tables):
    store, queries = tables
    padding = "x" * 20_000  # about fifty items fill DynamoDB's 1 MB page
    for number in range(120):
        store.create(f"s{number:03}", district="north-usd", key="k", padding=padding)

    assert len(queries.by_district("north-usd")) == 120
