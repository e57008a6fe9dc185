"""What the operator commands accept, and how they find a deployment, without AWS."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cers_groups.deployment import DeploymentNotFoundError, from_outputs, local_file_path
from cers_groups.operations import check_submission_id
from cers_groups.ops_cli import check_digest, parse_since

NOW = datetime(2026, 12, 3, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d", "2026-11-26T10:15:00.000Z"),
        ("12h", "2026-12-02T22:15:00.000Z"),
        ("30m", "2026-12-03T09:45:00.000Z"),
        ("2w", "2026-11-19T10:15:00.000Z"),
        ("2026-12-01", "2026-12-01T00:00:00.000Z"),
        ("2026-12-01T08:00Z", "2026-12-01T08:00:00.000Z"),
        ("2026-12-01T08:00:00-08:00", "2026-12-01T16:00:00.000Z"),
    ],
)
def test_parse_since_takes_times_and_ages(value: str, expected: str) -> None:
    assert parse_since(value, NOW) == expected


@pytest.mark.parametrize("value", ["yesterday", "7", "d", "-7d", "2026-13-01"])
def test_parse_since_refuses_anything_else_with_examples(value: str) -> None:
    with pytest.raises(ValueError, match=r"use e\.g\. 2026-12-01, 2026-12-01T08:00Z or 7d"):
        parse_since(value, NOW)


def test_check_digest_upper_cases_an_md5() -> None:
    assert check_digest("c4041639d4352f9ce2ae3c83c5117e61") == "C4041639D4352F9CE2AE3C83C5117E61"
    with pytest.raises(ValueError, match="32 hex digits"):
        check_digest("c4041639")


def test_check_submission_id_names_the_bad_value_and_the_shape() -> None:
    assert check_submission_id("20261203T101500Z-0123456789ab") == "20261203T101500Z-0123456789ab"
    with pytest.raises(ValueError, match=r"'roster\.csv' is not a submission id; ids look like"):
        check_submission_id("roster.csv")


@pytest.mark.parametrize(
    ("local", "setting", "expected"),
    [
        (False, "", None),
        (False, "0", None),
        (True, "", "cwd"),
        (False, "1", "cwd"),
        (False, "/srv/stack.json", "/srv/stack.json"),
        (True, "/srv/stack.json", "/srv/stack.json"),
    ],
)
def test_local_file_path_follows_the_flag_and_the_variable(local, setting, expected) -> None:
    found = local_file_path(local, {"CERS_GROUPS_LOCAL": setting})

    if expected is None:
        assert found is None
    elif expected == "cwd":
        assert found == Path.cwd() / ".local-stack.json"
    else:
        assert found == Path(expected)


def outputs(**described: str) -> list[dict]:
    return [{"OutputValue": value, "Description": name} for name, value in described.items()]


def test_from_outputs_maps_descriptions_to_resources_and_districts() -> None:
    found = from_outputs(
        outputs(
            ROSTER_BUCKET="bucket-1",
            SUBMISSIONS_TABLE="table-1",
            ALERT_TOPIC_ARN="arn:topic",
            VALIDATE_QUEUE_URL="https://sqs/v",
            VALIDATE_DLQ_URL="https://sqs/vd",
            UPLOAD_QUEUE_URL="https://sqs/u.fifo",
            UPLOAD_DLQ_URL="https://sqs/ud.fifo",
        )
        + [
            {"OutputValue": "s1", "Description": "CERS secret of district south-usd"},
            {"OutputValue": "s2", "Description": "CERS secret of district north-usd"},
        ],
        "stack CersGroups (us-west-2)",
        "us-west-2",
    )

    assert (found.bucket, found.table, found.upload_queue_url) == (
        "bucket-1",
        "table-1",
        "https://sqs/u.fifo",
    )
    assert found.districts == ("north-usd", "south-usd")
    assert found.endpoint_url is None


def test_from_outputs_of_an_older_stack_names_what_is_missing() -> None:
    with pytest.raises(DeploymentNotFoundError, match="does not name .*UPLOAD_DLQ_URL"):
        from_outputs(outputs(ROSTER_BUCKET="b", SUBMISSIONS_TABLE="t"), "stack X", None)
