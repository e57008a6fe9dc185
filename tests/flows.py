"""Steps the tests take through the local stack, as the product and CERS would take them."""

import json
from pathlib import Path

import boto3

from cers_groups.submissions import Status, SubmissionStore
from tests.rosters import write_roster


def drop_and_run(stack, tmp_path: Path, groups: dict, name: str, district: str | None = None):
    """Drops a roster built from ``groups``, runs the queues dry; the roster's submission."""
    stack.drop(write_roster(tmp_path / name, groups), district=district)
    stack.run()
    return next(item for item in stack.submissions() if item["key"].endswith(f"/{name}"))


def process(stack, submission: dict) -> dict:
    """CERS processes the accepted import, and the submission steps to PROCESSED."""
    assert submission["status"] == "ACCEPTED"
    stack.standin.process(int(submission["cers_import_id"]))
    store = SubmissionStore(stack.resources.table)
    assert store.advance(
        submission["submission_id"], Status.ACCEPTED, Status.PROCESSED, cers_status="PROCESSED"
    )
    return store.get(submission["submission_id"])


def processed_upload(stack, tmp_path: Path, groups: dict, name: str = "baseline.csv") -> dict:
    """A roster sent and processed: the district's last upload, the hold's baseline."""
    return process(stack, drop_and_run(stack, tmp_path, groups, name))


def report(stack, key: str) -> dict:
    body = boto3.client("s3").get_object(Bucket=stack.resources.bucket, Key=key)["Body"]
    return json.loads(body.read())
