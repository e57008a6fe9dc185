"""A submission item stays far below DynamoDB's 400 KB item limit, whatever the file holds."""

import json
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from cers_groups.roster import HEADER
from cers_groups.submissions import PROBLEMS_KEPT
from local_stack.stack import local_stack
from tests.rosters import SCHOOL_A

DYNAMODB_ITEM_LIMIT = 400 * 1024
PROBLEM_ROWS = 100_000


def dynamodb_size(value) -> int:
    """Bytes DynamoDB counts for a value (its documented item size rules)."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | Decimal):
        digits = len(str(abs(value)).replace(".", "").strip("0")) or 1
        return min(21, (digits + 1) // 2 + 1)
    if isinstance(value, list):
        return 3 + sum(dynamodb_size(element) + 1 for element in value)
    if isinstance(value, dict):
        return 3 + sum(dynamodb_size(k) + dynamodb_size(v) + 1 for k, v in value.items())
    raise TypeError(type(value))


def item_size(item: dict) -> int:
    return sum(dynamodb_size(name) + dynamodb_size(value) for name, value in item.items())


def test_dynamodb_size_counts_a_known_item() -> None:
    # 2 + 5 for the string pair, 3 + 2 for the number 12, 4 + (3 + 2 + 2) for the list.
    assert item_size({"id": "abcde", "n": 12, "list": ["a", "b"]}) == 7 + 3 + 11


@pytest.mark.slow
def test_item_for_a_file_with_100000_problems_stays_under_400_kb(tmp_path) -> None:
    # Every row breaks a rule: each names a new group with a space in its name.
    rows = [",".join(HEADER)]
    rows += [
        f"group {n},{SCHOOL_A},2027,Math,{9_000_000_000 + n},t@example.org"
        for n in range(PROBLEM_ROWS)
    ]
    roster = tmp_path / "broken.csv"
    roster.write_text("\n".join(rows) + "\n")

    with local_stack() as stack:
        stack.drop(roster)
        stack.run()
        [submission] = stack.submissions()
        raw = boto3.client("dynamodb").get_item(
            TableName=stack.resources.table,
            Key={"submission_id": {"S": submission["submission_id"]}},
        )["Item"]
        body = boto3.client("s3").get_object(
            Bucket=stack.resources.bucket, Key=submission["report_key"]
        )["Body"]
        report = json.loads(body.read())

    assert submission["status"] == "INVALID"
    assert submission["rows"] == PROBLEM_ROWS
    assert len(submission["problems"]) == PROBLEMS_KEPT
    assert len(report["errors"]) > PROBLEMS_KEPT
    assert raw == {name: TypeSerializer().serialize(v) for name, v in submission.items()}
    assert item_size(submission) < DYNAMODB_ITEM_LIMIT / 20
