"""The synthesized template: security settings, wiring between resources, least privilege.

Logical ids are never written down: they are found through the properties that name them
(a function by its handler, its role through `Role`, its queue through its event source mapping).
"""

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template
from cfnlint.api import ManualArgs, lint

from cers_groups import resources as res
from cers_groups.cers import DEFAULT_ENDPOINT
from infra.stack import (
    SECRET_TEMPLATE,
    UPLOADER_HANDLER,
    VALIDATOR_HANDLER,
    VISIBILITY_FACTOR,
    CersGroupsStack,
    _email_list,
)

HANDLERS = [VALIDATOR_HANDLER, UPLOADER_HANDLER]
FUNCTION_ENV = [
    res.ROSTER_BUCKET.env_var,
    res.SUBMISSIONS_TABLE.env_var,
    res.ALERT_TOPIC.env_var,
    res.UPLOAD_QUEUE.env_var,
    res.CERS_SECRET.env_var,
    res.CERS_ENDPOINT_ENV,
    res.DISTRICT_ENV,
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
]


# --- finding resources without hashed logical ids ---------------------------------------------


def _only(found: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    assert len(found) == 1, sorted(found)
    return next(iter(found.items()))


def _function(template: Template, handler: str) -> tuple[str, dict[str, Any]]:
    return _only(
        template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    )


def _queue_of(template: Template, handler: str) -> tuple[str, dict[str, Any]]:
    """The queue that feeds the function with this handler."""
    function_id, _ = _function(template, handler)
    _, mapping = _only(
        template.find_resources(
            "AWS::Lambda::EventSourceMapping",
            {"Properties": {"FunctionName": {"Ref": function_id}}},
        )
    )
    queue_id = mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
    return queue_id, template.to_json()["Resources"][queue_id]


def _dead_letter_queue_of(template: Template, queue: dict[str, Any]) -> dict[str, Any]:
    dlq_id = queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    return template.to_json()["Resources"][dlq_id]


def _statements(template: Template, handler: str) -> list[dict[str, Any]]:
    """Every statement of the identity policies attached to the function's role."""
    _, function = _function(template, handler)
    role = {"Ref": function["Properties"]["Role"]["Fn::GetAtt"][0]}
    policies = template.find_resources("AWS::IAM::Policy").values()
    return [
        statement
        for policy in policies
        if role in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement.get("Action", [])
    return [action] if isinstance(action, str) else action


def _allowed_on(statements: list[dict[str, Any]], action: str) -> list[Any]:
    """The resources of the Allow statements that grant this exact action."""
    resources: list[Any] = []
    for statement in statements:
        if statement["Effect"] == "Allow" and action in _actions(statement):
            resource = statement["Resource"]
            resources.extend(resource if isinstance(resource, list) else [resource])
    return resources


def _all_identity_statements(template: Template) -> list[dict[str, Any]]:
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    for role in template.find_resources("AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            statements.extend(policy["PolicyDocument"]["Statement"])
    return statements


# --- bucket ------------------------------------------------------------------------------------


def test_bucket_blocks_public_access_and_is_versioned_and_encrypted(template: Template) -> None:
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "VersioningConfiguration": {"Status": "Enabled"},
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_bucket_policy_denies_requests_without_tls(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_new_objects_under_incoming_notify_the_validate_queue(template: Template) -> None:
    queue_id, _ = _queue_of(template, VALIDATOR_HANDLER)
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "QueueConfigurations": [
                    {
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {
                                "FilterRules": [{"Name": "prefix", "Value": res.INCOMING_PREFIX}]
                            }
                        },
                        "QueueArn": {"Fn::GetAtt": [queue_id, "Arn"]},
                    }
                ]
            }
        },
    )


def test_s3_may_send_to_the_validate_queue(template: Template) -> None:
    queue_id, _ = _queue_of(template, VALIDATOR_HANDLER)
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": queue_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "s3.amazonaws.com"},
                                "Action": Match.array_with(["sqs:SendMessage"]),
                            }
                        )
                    ]
                )
            },
        },
    )


# --- functions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", HANDLERS)
def test_function_runtime_tracing_and_environment(template: Template, handler: str) -> None:
    _, function = _function(template, handler)
    props = function["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["x86_64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert sorted(props["Environment"]["Variables"]) == sorted(FUNCTION_ENV)


@pytest.mark.parametrize("handler", HANDLERS)
def test_environment_carries_physical_names(template: Template, handler: str) -> None:
    _, function = _function(template, handler)
    env = function["Properties"]["Environment"]["Variables"]
    upload_queue_id, _ = _queue_of(template, UPLOADER_HANDLER)
    assert env[res.UPLOAD_QUEUE.env_var] == {"Ref": upload_queue_id}
    for resource, kind in [
        (res.ROSTER_BUCKET, "AWS::S3::Bucket"),
        (res.SUBMISSIONS_TABLE, "AWS::DynamoDB::Table"),
        (res.ALERT_TOPIC, "AWS::SNS::Topic"),
        (res.CERS_SECRET, "AWS::SecretsManager::Secret"),
    ]:
        resource_id, _ = _only(template.find_resources(kind))
        assert env[resource.env_var] == {"Ref": resource_id}
    assert env[res.CERS_ENDPOINT_ENV] == DEFAULT_ENDPOINT
    assert env[res.DISTRICT_ENV] == res.DEFAULT_DISTRICT


@pytest.mark.parametrize("handler", HANDLERS)
def test_function_logs_to_a_log_group_with_retention(template: Template, handler: str) -> None:
    _, function = _function(template, handler)
    log_group_id = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = template.to_json()["Resources"][log_group_id]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] > 0


def test_uploader_has_reserved_concurrency_matching_its_pollers(template: Template) -> None:
    function_id, function = _function(template, UPLOADER_HANDLER)
    _, mapping = _only(
        template.find_resources(
            "AWS::Lambda::EventSourceMapping",
            {"Properties": {"FunctionName": {"Ref": function_id}}},
        )
    )
    reserved = function["Properties"]["ReservedConcurrentExecutions"]
    assert 2 <= mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"] <= reserved


@pytest.mark.parametrize(("handler", "batch_size"), [(VALIDATOR_HANDLER, 5), (UPLOADER_HANDLER, 1)])
def test_event_sources_report_batch_item_failures(
    template: Template, handler: str, batch_size: int
) -> None:
    function_id, _ = _function(template, handler)
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": function_id},
            "BatchSize": batch_size,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


# --- queues ------------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", HANDLERS)
def test_queue_visibility_is_six_times_the_function_timeout(
    template: Template, handler: str
) -> None:
    _, function = _function(template, handler)
    _, queue = _queue_of(template, handler)
    timeout = function["Properties"]["Timeout"]
    assert queue["Properties"]["VisibilityTimeout"] >= VISIBILITY_FACTOR * timeout


@pytest.mark.parametrize("handler", HANDLERS)
def test_queues_redrive_to_an_encrypted_dead_letter_queue(template: Template, handler: str) -> None:
    _, queue = _queue_of(template, handler)
    assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 3
    dlq = _dead_letter_queue_of(template, queue)
    assert dlq["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    for props in (queue["Properties"], dlq["Properties"]):
        assert props["SqsManagedSseEnabled"] is True


def test_upload_queue_and_its_dead_letter_queue_are_fifo(template: Template) -> None:
    _, queue = _queue_of(template, UPLOADER_HANDLER)
    dlq = _dead_letter_queue_of(template, queue)
    for props in (queue["Properties"], dlq["Properties"]):
        assert props["FifoQueue"] is True
        assert props["ContentBasedDeduplication"] is False


def test_validate_queue_is_standard(template: Template) -> None:
    _, queue = _queue_of(template, VALIDATOR_HANDLER)
    assert "FifoQueue" not in queue["Properties"]


def test_every_queue_denies_requests_without_tls(template: Template) -> None:
    queues = template.find_resources("AWS::SQS::Queue")
    policies = template.find_resources(
        "AWS::SQS::QueuePolicy",
        {
            "Properties": {
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                }
            }
        },
    )
    covered = {ref["Ref"] for policy in policies.values() for ref in policy["Properties"]["Queues"]}
    assert covered == set(queues)


# --- table, topic, secret ----------------------------------------------------------------------


def test_table_is_on_demand_with_point_in_time_recovery(template: Template) -> None:
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [{"AttributeName": res.SUBMISSION_KEY, "KeyType": "HASH"}],
                "AttributeDefinitions": [
                    {"AttributeName": res.SUBMISSION_KEY, "AttributeType": "S"}
                ],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_topic_has_one_email_subscription_per_address(
    template: Template, alert_emails: list[str]
) -> None:
    subscriptions = template.find_resources("AWS::SNS::Subscription")
    assert sorted(s["Properties"]["Endpoint"] for s in subscriptions.values()) == sorted(
        alert_emails
    )
    assert {s["Properties"]["Protocol"] for s in subscriptions.values()} == {"email"}


def test_topic_without_addresses_has_no_subscriptions(template_without_alerts: Template) -> None:
    template_without_alerts.resource_count_is("AWS::SNS::Topic", 1)
    template_without_alerts.resource_count_is("AWS::SNS::Subscription", 0)


def test_topic_denies_publishing_without_tls(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_secret_is_a_placeholder_with_a_generated_password(template: Template) -> None:
    _, secret = _only(template.find_resources("AWS::SecretsManager::Secret"))
    props = secret["Properties"]
    assert "SecretString" not in props
    generated = props["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "password"
    assert json.loads(generated["SecretStringTemplate"]) == SECRET_TEMPLATE
    assert "password" not in json.loads(generated["SecretStringTemplate"])
    assert "put-secret-value" in props["Description"]


# --- least privilege ---------------------------------------------------------------------------


def test_no_identity_policy_grants_a_wildcard_action(template: Template) -> None:
    for statement in _all_identity_statements(template):
        for action in _actions(statement):
            assert action != "*" and not action.endswith(":*"), statement


def test_only_the_uploader_reads_the_secret(template: Template) -> None:
    secret_id, _ = _only(template.find_resources("AWS::SecretsManager::Secret"))
    uploader = _statements(template, UPLOADER_HANDLER)
    validator = _statements(template, VALIDATOR_HANDLER)
    assert _allowed_on(uploader, "secretsmanager:GetSecretValue") == [{"Ref": secret_id}]
    assert _allowed_on(validator, "secretsmanager:GetSecretValue") == []


def test_only_the_validator_sends_to_the_upload_queue(template: Template) -> None:
    upload_queue_id, _ = _queue_of(template, UPLOADER_HANDLER)
    upload_queue_arn = {"Fn::GetAtt": [upload_queue_id, "Arn"]}
    validator = _statements(template, VALIDATOR_HANDLER)
    uploader = _statements(template, UPLOADER_HANDLER)
    assert _allowed_on(validator, "sqs:SendMessage") == [upload_queue_arn]
    assert _allowed_on(uploader, "sqs:SendMessage") == []


def test_object_access_is_limited_to_prefixes(template: Template) -> None:
    validator = json.dumps(_statements(template, VALIDATOR_HANDLER))
    uploader = json.dumps(_statements(template, UPLOADER_HANDLER))
    assert f'"/{res.INCOMING_PREFIX}*"' in validator
    assert f'"/{res.REPORTS_PREFIX}*"' in validator
    assert f'"/{res.INCOMING_PREFIX}*"' in uploader
    assert res.REPORTS_PREFIX not in uploader
    for document in (validator, uploader):
        assert '"/*"' not in document


def test_uploader_writes_no_objects(template: Template) -> None:
    assert _allowed_on(_statements(template, UPLOADER_HANDLER), "s3:PutObject") == []


@pytest.mark.parametrize("handler", HANDLERS)
def test_functions_read_write_the_table_and_publish_alerts(
    template: Template, handler: str
) -> None:
    statements = _statements(template, handler)
    table_id, _ = _only(template.find_resources("AWS::DynamoDB::Table"))
    topic_id, _ = _only(template.find_resources("AWS::SNS::Topic"))
    assert _allowed_on(statements, "dynamodb:PutItem") == [{"Fn::GetAtt": [table_id, "Arn"]}]
    assert _allowed_on(statements, "sns:Publish") == [{"Ref": topic_id}]


# --- outputs, props ----------------------------------------------------------------------------


def test_outputs_name_the_resources_a_cli_needs(template: Template) -> None:
    outputs = template.find_outputs("*")
    assert {
        "RosterBucketName",
        "SubmissionsTableName",
        "AlertTopicArn",
        "CersSecretName",
        "CersSecretArn",
        "ValidateQueueUrl",
        "ValidateDeadLetterQueueUrl",
        "UploadQueueUrl",
        "UploadDeadLetterQueueUrl",
    } <= set(outputs)
    env_vars = {output.get("Description") for output in outputs.values()}
    every_resource = [
        res.ROSTER_BUCKET,
        res.VALIDATE_QUEUE,
        res.VALIDATE_DLQ,
        res.UPLOAD_QUEUE,
        res.UPLOAD_DLQ,
        res.SUBMISSIONS_TABLE,
        res.ALERT_TOPIC,
        res.CERS_SECRET,
    ]
    assert {resource.env_var for resource in every_resource} <= env_vars


def test_context_overrides_endpoint_and_district(synth: Callable[..., Template]) -> None:
    template = synth(cers_endpoint="https://cers.example.org/imports/", district_id="d-042")
    for handler in HANDLERS:
        _, function = _function(template, handler)
        env = function["Properties"]["Environment"]["Variables"]
        assert env[res.CERS_ENDPOINT_ENV] == "https://cers.example.org/imports/"
        assert env[res.DISTRICT_ENV] == "d-042"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ([], []),
        (["a@example.org"], ["a@example.org"]),
        ('["a@example.org", "b@example.org"]', ["a@example.org", "b@example.org"]),
        ("a@example.org, b@example.org", ["a@example.org", "b@example.org"]),
        ("", []),
    ],
)
def test_alert_emails_from_context(value: object, expected: list[str]) -> None:
    assert _email_list(value) == expected


@pytest.mark.parametrize(
    "props",
    [
        {"cers_endpoint": "http://groups.example.org/"},
        {"district_id": ""},
        {"district_id": "x" * 129},
        {"alert_emails": ["not-an-address"]},
        {"alert_emails": "ops@example.org"},
    ],
)
def test_bad_props_are_rejected_before_synthesis(props: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        CersGroupsStack(App(), "Rejected", **props)


# --- cfn-lint ----------------------------------------------------------------------------------


def test_template_passes_cfn_lint(template: Template) -> None:
    config = ManualArgs(ignore_checks=["W3005"], regions=["us-west-2"])
    matches = lint(json.dumps(template.to_json()), config=config)
    errors = [str(match) for match in matches if match.rule.id.startswith("E")]
    assert errors == []
