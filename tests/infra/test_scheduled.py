"""The scheduled functions in the synthesized template: daily summary and subscription check."""

from typing import Any

import pytest
from aws_cdk.assertions import Template

from cers_groups import resources as res
from infra.stack import DAILY_SUMMARY_HANDLER, SUBSCRIPTION_CHECK_HANDLER

SCHEDULED = [DAILY_SUMMARY_HANDLER, SUBSCRIPTION_CHECK_HANDLER]


# The submissions table (the stack also has a small tokens table).
SUBMISSIONS_TABLE_SHAPE = {
    "Properties": {"KeySchema": [{"AttributeName": res.SUBMISSION_KEY, "KeyType": "HASH"}]}
}


def only(found: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    assert len(found) == 1, sorted(found)
    return next(iter(found.items()))


def function(template: Template, handler: str) -> tuple[str, dict[str, Any]]:
    return only(
        template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    )


def statements(template: Template, handler: str) -> list[dict[str, Any]]:
    _, props = function(template, handler)
    role = {"Ref": props["Properties"]["Role"]["Fn::GetAtt"][0]}
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if role in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions(template: Template, handler: str) -> set[str]:
    found = set()
    for statement in statements(template, handler):
        action = statement["Action"]
        found.update([action] if isinstance(action, str) else action)
    return found


@pytest.mark.parametrize(
    ("handler", "cron"),
    [
        (DAILY_SUMMARY_HANDLER, "cron(0 14 * * ? *)"),
        (SUBSCRIPTION_CHECK_HANDLER, "cron(30 14 * * ? *)"),
    ],
)
def test_scheduled_function_runs_daily_and_is_not_retried(
    template: Template, handler: str, cron: str
) -> None:
    function_id, _ = function(template, handler)
    rule_id, rule = only(
        template.find_resources(
            "AWS::Events::Rule",
            {"Properties": {"Targets": [{"Arn": {"Fn::GetAtt": [function_id, "Arn"]}}]}},
        )
    )
    assert rule["Properties"]["ScheduleExpression"] == cron
    assert rule["Properties"]["State"] == "ENABLED"
    permission = template.find_resources(
        "AWS::Lambda::Permission",
        {
            "Properties": {
                "Principal": "events.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
            }
        },
    )
    assert len(permission) == 1
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": function_id}, "MaximumRetryAttempts": 0},
    )


@pytest.mark.parametrize("handler", SCHEDULED)
def test_scheduled_function_publishes_alerts_and_writes_nothing(
    template: Template, handler: str
) -> None:
    allowed = actions(template, handler)
    assert "sns:Publish" in allowed
    assert not {a for a in allowed if a.startswith("s3:") or a.startswith("sqs:")}
    assert not {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} & allowed


def test_daily_summary_queries_the_table_and_its_indexes(template: Template) -> None:
    table_id, _ = only(template.find_resources("AWS::DynamoDB::Table", SUBMISSIONS_TABLE_SHAPE))
    table_arn = {"Fn::GetAtt": [table_id, "Arn"]}
    [query] = [
        s for s in statements(template, DAILY_SUMMARY_HANDLER) if "dynamodb:Query" in s["Action"]
    ]
    assert query["Resource"] == [table_arn, {"Fn::Join": ["", [table_arn, "/index/*"]]}]


def test_subscription_check_lists_only_the_alert_topics_subscriptions(template: Template) -> None:
    topic_id, _ = only(template.find_resources("AWS::SNS::Topic"))
    listing = [
        s
        for s in statements(template, SUBSCRIPTION_CHECK_HANDLER)
        if "sns:ListSubscriptionsByTopic" in s["Action"]
    ]
    assert [(s["Effect"], s["Resource"]) for s in listing] == [("Allow", {"Ref": topic_id})]
    assert not {
        a for a in actions(template, SUBSCRIPTION_CHECK_HANDLER) if a.startswith("dynamodb:")
    }
