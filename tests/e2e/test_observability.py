"""What the handlers tell CloudWatch: JSON logs keyed by submission, metrics with the names and
dimensions the stack's alarms and dashboard read, and never a value from a roster row."""

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cers_groups import resources as res
from cers_groups.observability import logger
from local_stack.stack import local_stack

SAMPLES = Path(__file__).parents[2] / "local_stack" / "samples"
VALID = SAMPLES / "valid_roster.csv"
INVALID = SAMPLES / "invalid_roster.csv"
SERVICE_ONLY = [res.SERVICE_DIMENSION]
SERVICE_AND_DISTRICT = sorted([res.SERVICE_DIMENSION, res.DISTRICT_DIMENSION])


@pytest.fixture
def stack():
    with local_stack() as running:
        yield running


@pytest.fixture
def output(capsys, monkeypatch) -> Callable[[], str]:
    """Everything the handlers print: metrics (print) and the JSON logs.

    The shared Powertools logger keeps the stream it was created with, so its handlers are
    pointed at a buffer for the test.
    """
    buffer = io.StringIO()
    for handler in logger.handlers:
        monkeypatch.setattr(handler, "stream", buffer)
    return lambda: buffer.getvalue() + capsys.readouterr().out


def _json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def _metrics(lines: list[dict]) -> list[tuple[str, list[str], dict]]:
    """(metric name, sorted dimension names, the whole EMF blob) for every metric emitted."""
    found = []
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            assert directive["Namespace"] == res.METRICS_NAMESPACE
            for dimensions in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    found.append((metric["Name"], sorted(dimensions), line))
    return found


def _row_values() -> set[str]:
    values = set()
    for roster in (VALID, INVALID):
        with roster.open(newline="") as handle:
            for row in list(csv.reader(handle))[1:]:
                # SSIDs, logins and group names: what must never leave the bucket.
                values.update(value for value in (row[4:6] + row[:1]) if len(value) > 3)
    return values


def test_pipeline_metrics_have_the_names_and_dimensions_of_the_dashboard(stack, output):
    stack.drop(VALID)
    stack.drop(INVALID)
    stack.run()

    emitted = _metrics(_json_lines(output()))

    service_metrics = {name for name, dims, _ in emitted if dims == SERVICE_ONLY}
    assert {
        res.FILES_RECEIVED,
        res.FILES_VALID,
        res.FILES_INVALID,
        res.FILES_UPLOADED,
        res.ROWS_VALIDATED,
        res.VALIDATION_SECONDS,
        res.UPLOAD_SECONDS,
    } <= service_metrics
    per_district = [
        (line[res.DISTRICT_DIMENSION], line[name])
        for name, dims, line in emitted
        if dims == SERVICE_AND_DISTRICT
    ]
    assert per_district == [("sample-usd", [1.0]), ("sample-usd", [1.0])]
    # One flush holds every value of a metric in a list.
    rows = [
        value
        for name, _, line in emitted
        if name == res.ROWS_VALIDATED
        for value in line[res.ROWS_VALIDATED]
    ]
    assert sorted(rows) == sorted(float(s["rows"]) for s in stack.submissions())


def test_pipeline_counts_files_outside_every_district_for_the_operators(stack, output):
    stack.put("incoming/roster.csv", VALID.read_bytes())
    stack.run()

    emitted = _metrics(_json_lines(output()))

    per_district = [
        line[res.DISTRICT_DIMENSION]
        for name, dims, line in emitted
        if name == res.FILES_RECEIVED and dims == SERVICE_AND_DISTRICT
    ]
    assert per_district == [res.OPERATORS_AUDIENCE]
    assert res.FILES_FAILED in {name for name, _, _ in emitted}


def test_pipeline_logs_carry_the_submission_as_correlation_id(stack, output):
    stack.drop(VALID)
    stack.run()

    logs = [line for line in _json_lines(output()) if "message" in line]
    [submission] = stack.submissions()
    about_it = [line for line in logs if line.get("submission_id")]
    messages = {line["message"] for line in about_it}
    assert {"Roster received", "Roster validated", "CERS import recorded"} <= messages
    assert {line["correlation_id"] for line in about_it} == {submission["submission_id"]}
    assert {line["service"] for line in logs} == {res.SERVICE_NAME}


def test_pipeline_logs_and_metrics_never_hold_row_values(stack, output):
    stack.drop(VALID)
    stack.drop(INVALID)
    stack.run()

    output = output()
    assert _json_lines(output)
    leaked = sorted(value for value in _row_values() if value in output)
    assert leaked == []


def test_pipeline_submissions_expire_after_the_configured_days(stack):
    stack.drop(VALID)
    stack.run()

    [submission] = stack.submissions()
    created = datetime.fromisoformat(submission["created_at"].replace("Z", "+00:00"))
    days = stack.tenants.deployment.submission_ttl_days
    assert days == 365
    assert submission[res.SUBMISSION_EXPIRY] == int((created + timedelta(days=days)).timestamp())


def test_pipeline_counts_a_file_cers_processed(stack, output):
    stack.drop(VALID)
    stack.run(follow=False)
    stack.standin.process(1)
    stack.run()

    emitted = _metrics(_json_lines(output()))

    statuses = sorted(item["status"] for item in stack.submissions())
    assert statuses == ["PROCESSED"]
    processed = [
        line[res.FILES_PROCESSED] for name, _, line in emitted if name == res.FILES_PROCESSED
    ]
    assert processed == [[1.0]]
