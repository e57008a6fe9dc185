"""Alarms wired to the alert topic, per-district heartbeats and stuck submissions, the dashboard,
and function sizes that follow the measured figures."""

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from cers_groups import resources as res
from infra import sizing
from infra.observability import PIPELINE_COUNTS
from infra.stack import UPLOADER_HANDLER, VALIDATOR_HANDLER

# Every metric the functions emit under the namespace (the poller emits SubmissionsStuck).
EMITTED = {
    *PIPELINE_COUNTS,
    res.ROWS_VALIDATED,
    res.VALIDATION_SECONDS,
    res.UPLOAD_SECONDS,
    res.SUBMISSIONS_STUCK,
}
SERVICE = {"Name": res.SERVICE_DIMENSION, "Value": res.SERVICE_NAME}


def _only(found: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    assert len(found) == 1, sorted(found)
    return next(iter(found.items()))


def _alarms(template: Template) -> dict[str, dict[str, Any]]:
    """Alarms by name."""
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()
    return {alarm["Properties"]["AlarmName"]: alarm["Properties"] for alarm in alarms}


def _function_id(template: Template, handler: str) -> str:
    function_id, _ = _only(
        template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    )
    return function_id


def test_every_alarm_notifies_the_alert_topic(template: Template) -> None:
    topic_id, _ = _only(template.find_resources("AWS::SNS::Topic"))
    alarms = _alarms(template)
    assert len(alarms) >= 8
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
        assert alarm["AlarmDescription"], name


@pytest.mark.parametrize(
    ("name", "handler"), [("validator", VALIDATOR_HANDLER), ("uploader", UPLOADER_HANDLER)]
)
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_function_errors_and_throttles_alarm_at_once(
    template: Template, name: str, handler: str, metric: str
) -> None:
    alarm = _alarms(template)[f"CersGroups-{name}-{metric.lower()}"]
    assert alarm["Namespace"] == "AWS/Lambda"
    assert alarm["MetricName"] == metric
    assert alarm["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": _function_id(template, handler)}}
    ]
    assert alarm["Statistic"] == "Sum"
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Threshold"] == 1
    assert alarm["EvaluationPeriods"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("queue", ["validate", "upload"])
def test_one_dead_letter_raises_an_alarm(template: Template, queue: str) -> None:
    alarm = _alarms(template)[f"CersGroups-{queue}-dead-letters"]
    dlq_id = alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
    dead_letter_targets = [
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in template.find_resources("AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    ]
    assert dlq_id in dead_letter_targets
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Threshold"] == 1


def test_heartbeat_alarms_when_no_file_arrived_in_n_hours(template: Template) -> None:
    alarm = _alarms(template)["CersGroups-district-north-usd-no-file-26h"]
    assert alarm["Namespace"] == res.METRICS_NAMESPACE
    assert alarm["MetricName"] == res.FILES_RECEIVED
    assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == [
        {"Name": res.DISTRICT_DIMENSION, "Value": "north-usd"},
        SERVICE,
    ]
    assert alarm["Statistic"] == "Sum"
    assert alarm["Period"] == 3600
    assert alarm["EvaluationPeriods"] == 26
    assert alarm["DatapointsToAlarm"] == 26
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Threshold"] == 1
    # An hour without a data point is an hour without a file.
    assert alarm["TreatMissingData"] == "breaching"


def test_heartbeat_is_off_unless_configured(template: Template, default_template: Template) -> None:
    assert [name for name in _alarms(template) if "no-file" in name] == [
        "CersGroups-district-north-usd-no-file-26h"
    ]
    assert [name for name in _alarms(default_template) if "no-file" in name] == []


@pytest.mark.parametrize("district", ["north-usd", "south-usd"])
def test_stuck_submissions_alarm_per_district(template: Template, district: str) -> None:
    alarm = _alarms(template)[f"CersGroups-district-{district}-stuck"]
    assert alarm["Namespace"] == res.METRICS_NAMESPACE
    assert alarm["MetricName"] == res.SUBMISSIONS_STUCK
    assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == [
        {"Name": res.DISTRICT_DIMENSION, "Value": district},
        SERVICE,
    ]
    assert alarm["Statistic"] == "Maximum"
    assert alarm["Threshold"] == 1
    # Until the poller reports, there is nothing stuck.
    assert alarm["TreatMissingData"] == "notBreaching"


def test_custom_alarms_watch_metrics_the_functions_emit(template: Template) -> None:
    custom = [a for a in _alarms(template).values() if a["Namespace"] == res.METRICS_NAMESPACE]
    assert custom
    assert {alarm["MetricName"] for alarm in custom} <= EMITTED


def _dashboard_body(template: Template) -> str:
    _, dashboard = _only(template.find_resources("AWS::CloudWatch::Dashboard"))
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, dict):
        parts = body["Fn::Join"][1]
        return "".join(part if isinstance(part, str) else json.dumps(part) for part in parts)
    return body


def test_dashboard_shows_the_pipelines_figures(template: Template) -> None:
    body = _dashboard_body(template)
    for name in EMITTED:
        assert f'"{name}"' in body, name
    for figure in ("Errors", "Throttles", "Duration", "ApproximateNumberOfMessagesVisible"):
        assert f'"{figure}"' in body, figure
    for district in ("north-usd", "south-usd"):
        assert f'"{district}"' in body
    assert "DashboardName" in template.find_outputs("*")


# --- sizes -------------------------------------------------------------------------------------


def _function(template: Template, handler: str) -> dict[str, Any]:
    _, function = _only(
        template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    )
    return function["Properties"]


def test_validator_gets_a_full_vcpu_and_a_timeout_far_above_a_batch_of_large_files(
    template: Template,
) -> None:
    props = _function(template, VALIDATOR_HANDLER)
    assert props["MemorySize"] == sizing.ONE_VCPU_MB
    assert props["MemorySize"] >= 10 * sizing.MEASURED_PEAK_MB
    # A full batch of 1,000,000-row files, with Lambda's CPU assumed twice as slow as the
    # measuring machine and as much again for reading from S3, fits three times over.
    batch_seconds = sizing.VALIDATOR_BATCH_SIZE * sizing.MEASURED_SECONDS_PER_MILLION_ROWS * 4
    assert props["Timeout"] >= 3 * batch_seconds
    assert props["Timeout"] == sizing.VALIDATOR_TIMEOUT.to_seconds()


def test_uploader_size_and_reserved_concurrency(template: Template) -> None:
    props = _function(template, UPLOADER_HANDLER)
    assert props["MemorySize"] == sizing.UPLOADER_MEMORY_MB
    assert props["Timeout"] == sizing.UPLOADER_TIMEOUT.to_seconds()
    assert props["ReservedConcurrentExecutions"] == sizing.UPLOADER_CONCURRENCY
