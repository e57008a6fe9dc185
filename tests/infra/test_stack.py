"""The synthesized template: security settings, wiring between resources, least privilege.

Logical ids are never written down: they are found through the properties that name them
(a function by its handler, its role through `Role`, its queue through its event source mapping).
"""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template
from cfnlint.api import ManualArgs, lint

from cers_groups import resources as res
from cers_groups.errors import ConfigurationError
from cers_groups.settings import DEFAULT_FOLLOW, DEFAULT_READ_TIMEOUT
from cers_groups.tenants import Tenants
from infra.sizing import VISIBILITY_FACTOR
from infra.stack import (
    POLLER_HANDLER,
    POLLER_SCHEDULE,
    SECRET_TEMPLATE,
    TENANTS_FILE_CONTEXT,
    UPLOADER_HANDLER,
    VALIDATOR_HANDLER,
    CersGroupsStack,
    alert_subscribers,
    pascal_case,
    tenants_json,
)

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = [VALIDATOR_HANDLER, UPLOADER_HANDLER, POLLER_HANDLER]
QUEUE_HANDLERS = [VALIDATOR_HANDLER, UPLOADER_HANDLER]
# Settings the functions no longer get from their environment: they are in the tenants file.
REMOVED_ENV = ["CERS_SECRET_ID", "CERS_ENDPOINT", "DISTRICT_ID"]
FUNCTION_ENV = [
    res.ROSTER_BUCKET.env_var,
    res.SUBMISSIONS_TABLE.env_var,
    res.ALERT_TOPIC.env_var,
    res.UPLOAD_QUEUE.env_var,
    res.TENANTS_FILE_ENV,
    res.TOKENS_TABLE.env_var,
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


def _roster_bucket(template: Template) -> tuple[str, dict[str, Any]]:
    """The roster bucket: the one that logs its accesses to the other (the log bucket)."""
    return _only(
        template.find_resources(
            "AWS::S3::Bucket", {"Properties": {"LoggingConfiguration": Match.any_value()}}
        )
    )


def _secret(template: Template, name: str) -> tuple[str, dict[str, Any]]:
    """The secret with this physical name."""
    return _only(
        template.find_resources("AWS::SecretsManager::Secret", {"Properties": {"Name": name}})
    )


def _table(template: Template, key: str) -> tuple[str, dict[str, Any]]:
    """The table whose partition key is ``key``."""
    return _only(
        template.find_resources(
            "AWS::DynamoDB::Table",
            {"Properties": {"KeySchema": [{"AttributeName": key, "KeyType": "HASH"}]}},
        )
    )


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
    key_id, _ = _only(template.find_resources("AWS::KMS::Key"))
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
                        {
                            "BucketKeyEnabled": True,
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
                            },
                        }
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
    assert not set(REMOVED_ENV) & set(props["Environment"]["Variables"])


@pytest.mark.parametrize("handler", HANDLERS)
def test_environment_carries_physical_names(template: Template, handler: str) -> None:
    _, function = _function(template, handler)
    env = function["Properties"]["Environment"]["Variables"]
    upload_queue_id, _ = _queue_of(template, UPLOADER_HANDLER)
    assert env[res.UPLOAD_QUEUE.env_var] == {"Ref": upload_queue_id}
    bucket_id, _ = _roster_bucket(template)
    assert env[res.ROSTER_BUCKET.env_var] == {"Ref": bucket_id}
    topic_id, _ = _only(template.find_resources("AWS::SNS::Topic"))
    assert env[res.ALERT_TOPIC.env_var] == {"Ref": topic_id}
    for resource, key in [
        (res.SUBMISSIONS_TABLE, res.SUBMISSION_KEY),
        (res.TOKENS_TABLE, "district"),
    ]:
        table_id, _ = _table(template, key)
        assert env[resource.env_var] == {"Ref": table_id}
    assert env[res.TENANTS_FILE_ENV] == f"/var/task/{res.BUNDLED_TENANTS_FILE}"


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


@pytest.mark.parametrize("handler", QUEUE_HANDLERS)
def test_queue_visibility_is_six_times_the_function_timeout(
    template: Template, handler: str
) -> None:
    _, function = _function(template, handler)
    _, queue = _queue_of(template, handler)
    timeout = function["Properties"]["Timeout"]
    assert queue["Properties"]["VisibilityTimeout"] >= VISIBILITY_FACTOR * timeout


@pytest.mark.parametrize("handler", QUEUE_HANDLERS)
def test_queues_redrive_to_an_encrypted_dead_letter_queue(template: Template, handler: str) -> None:
    key_id, _ = _only(template.find_resources("AWS::KMS::Key"))
    _, queue = _queue_of(template, handler)
    assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 3
    dlq = _dead_letter_queue_of(template, queue)
    assert dlq["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    for props in (queue["Properties"], dlq["Properties"]):
        assert props["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert "SqsManagedSseEnabled" not in props


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
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_table_has_the_indexes_operators_query(template: Template) -> None:
    _, table = _table(template, res.SUBMISSION_KEY)
    indexes = {
        index["IndexName"]: [key["AttributeName"] for key in index["KeySchema"]]
        for index in table["Properties"]["GlobalSecondaryIndexes"]
    }

    assert indexes == {
        "by-district": ["district", "created_at"],
        "by-digest": ["district_digest", "created_at"],
        "pending": ["pending", "updated_at"],
    }


def _subscriptions(template: Template) -> dict[str, dict[str, Any]]:
    """Each subscription's properties by its endpoint."""
    found = template.find_resources("AWS::SNS::Subscription").values()
    by_endpoint = {s["Properties"]["Endpoint"]: s["Properties"] for s in found}
    assert len(by_endpoint) == len(found), "two subscriptions for one address"
    return by_endpoint


def test_district_addresses_receive_only_their_districts_alerts(
    template: Template, tenants: dict[str, Any]
) -> None:
    subscriptions = _subscriptions(template)
    for district in tenants["districts"]:
        for address in district["alert_emails"]:
            props = subscriptions[address]
            assert props["Protocol"] == "email"
            assert props["FilterPolicy"] == {res.ALERT_DISTRICT_ATTRIBUTE: [district["id"]]}
            assert props.get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes"


def test_operators_receive_every_alert(template: Template, tenants: dict[str, Any]) -> None:
    subscriptions = _subscriptions(template)
    district_addresses = {a for d in tenants["districts"] for a in d["alert_emails"]}
    assert set(subscriptions) == {*tenants["operator_emails"], *district_addresses}
    (operator,) = tenants["operator_emails"]
    props = subscriptions[operator]
    assert props["Protocol"] == "email"
    assert "FilterPolicy" not in props


def test_shared_addresses_get_one_subscription(synth_tenants: Callable[[Any], Template]) -> None:
    """SNS has one subscription per address: a shared address allows every district it is
    listed by, and an operator's address stays unfiltered when a district lists it too."""
    shared, operator = "county-it@example.org", "ops@vendor.example.org"
    template = synth_tenants(
        {
            "operator_emails": [operator],
            "districts": [
                {"id": "a", "alert_emails": [shared, operator, shared]},
                {"id": "b", "alert_emails": [shared]},
            ],
        }
    )
    subscriptions = _subscriptions(template)
    assert set(subscriptions) == {shared, operator}
    assert subscriptions[shared]["FilterPolicy"] == {res.ALERT_DISTRICT_ATTRIBUTE: ["a", "b"]}
    assert "FilterPolicy" not in subscriptions[operator]


def test_alert_subscribers() -> None:
    tenants = Tenants.model_validate(
        {
            "operator_emails": ["op@x.org"],
            "districts": [
                {"id": "a", "alert_emails": ["a@x.org", "op@x.org"]},
                {"id": "b", "alert_emails": ["a@x.org", "b@x.org"]},
            ],
        }
    )
    assert alert_subscribers(tenants) == {
        "op@x.org": None,
        "a@x.org": ("a", "b"),
        "b@x.org": ("b",),
    }


def test_default_tenants_have_no_subscriptions(default_template: Template) -> None:
    default_template.resource_count_is("AWS::SNS::Topic", 1)
    default_template.resource_count_is("AWS::SNS::Subscription", 0)


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


def test_one_secret_per_district(template: Template) -> None:
    names = {
        secret["Properties"]["Name"]
        for secret in template.find_resources("AWS::SecretsManager::Secret").values()
    }
    assert names == {"cers-groups/north-usd/cers-credentials", "cers/south-usd"}


def test_secret_construct_ids_carry_the_district(template: Template) -> None:
    secret_id, _ = _secret(template, "cers-groups/north-usd/cers-credentials")
    assert secret_id.startswith(f"{res.CERS_SECRET_CONSTRUCT_PREFIX}NorthUsd")
    secret_id, _ = _secret(template, "cers/south-usd")
    assert secret_id.startswith(f"{res.CERS_SECRET_CONSTRUCT_PREFIX}SouthUsd")


def test_default_tenants_have_the_default_districts_secret(default_template: Template) -> None:
    secret_id, _ = _secret(default_template, "cers-groups/default/cers-credentials")
    assert secret_id.startswith(f"{res.CERS_SECRET_CONSTRUCT_PREFIX}Default")


@pytest.mark.parametrize("name", ["cers-groups/north-usd/cers-credentials", "cers/south-usd"])
def test_secret_is_a_placeholder_with_a_generated_password(template: Template, name: str) -> None:
    _, secret = _secret(template, name)
    props = secret["Properties"]
    assert "SecretString" not in props
    generated = props["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "password"
    assert json.loads(generated["SecretStringTemplate"]) == SECRET_TEMPLATE
    assert "password" not in json.loads(generated["SecretStringTemplate"])
    assert all(
        value.startswith(res.SECRET_PLACEHOLDER)
        for key, value in SECRET_TEMPLATE.items()
        if key in ("username", "client_id")
    )
    assert "put-secret-value" in props["Description"]


# --- least privilege ---------------------------------------------------------------------------


def test_no_identity_policy_grants_a_wildcard_action(template: Template) -> None:
    for statement in _all_identity_statements(template):
        for action in _actions(statement):
            assert action != "*" and not action.endswith(":*"), statement


@pytest.mark.parametrize("handler", [UPLOADER_HANDLER, POLLER_HANDLER])
def test_only_the_uploader_and_poller_read_the_secrets(template: Template, handler: str) -> None:
    secret_ids = sorted(template.find_resources("AWS::SecretsManager::Secret"))
    assert len(secret_ids) == 2
    readable = _allowed_on(_statements(template, handler), "secretsmanager:GetSecretValue")
    validator = _statements(template, VALIDATOR_HANDLER)
    assert sorted(readable, key=json.dumps) == [{"Ref": secret_id} for secret_id in secret_ids]
    assert _allowed_on(validator, "secretsmanager:GetSecretValue") == []
    assert "secretsmanager:" not in json.dumps(validator)


def test_only_the_validator_and_poller_send_to_the_upload_queue(template: Template) -> None:
    upload_queue_id, _ = _queue_of(template, UPLOADER_HANDLER)
    upload_queue_arn = {"Fn::GetAtt": [upload_queue_id, "Arn"]}
    validator = _statements(template, VALIDATOR_HANDLER)
    uploader = _statements(template, UPLOADER_HANDLER)
    poller = _statements(template, POLLER_HANDLER)
    assert _allowed_on(validator, "sqs:SendMessage") == [upload_queue_arn]
    assert _allowed_on(poller, "sqs:SendMessage") == [upload_queue_arn]
    assert _allowed_on(uploader, "sqs:SendMessage") == []


@pytest.mark.parametrize("handler", [UPLOADER_HANDLER, POLLER_HANDLER])
def test_only_the_uploader_and_poller_use_the_tokens_table(template: Template, handler: str):
    tokens_arn = {"Fn::GetAtt": [_table(template, "district")[0], "Arn"]}
    assert tokens_arn in _allowed_on(_statements(template, handler), "dynamodb:UpdateItem")
    assert tokens_arn not in _allowed_on(
        _statements(template, VALIDATOR_HANDLER), "dynamodb:GetItem"
    )


def test_tokens_table_expires_items_and_is_encrypted_with_the_stack_key(
    template: Template,
) -> None:
    _, table = _table(template, "district")
    props = table["Properties"]
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": res.TOKEN_TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["SSESpecification"]["SSEType"] == "KMS"


def test_poller_runs_on_a_schedule_one_at_a_time(template: Template) -> None:
    function_id, function = _function(template, POLLER_HANDLER)
    assert function["Properties"]["ReservedConcurrentExecutions"] == 1
    minutes = int(POLLER_SCHEDULE.to_minutes())
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": f"rate({minutes} minutes)",
            "State": "ENABLED",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [function_id, "Arn"]}})],
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
        },
    )
    assert function["Properties"]["Timeout"] < minutes * 60  # one run ends before the next


def test_uploader_outlasts_the_read_timeout_and_the_follow_up(template: Template) -> None:
    _, function = _function(template, UPLOADER_HANDLER)
    # The POST's read timeout, watching the accepted import, then a lookup and the record.
    margin = 45
    assert function["Properties"]["Timeout"] == 900
    assert DEFAULT_READ_TIMEOUT + DEFAULT_FOLLOW + margin <= function["Properties"]["Timeout"]


def test_object_access_is_limited_to_prefixes(template: Template) -> None:
    validator = json.dumps(_statements(template, VALIDATOR_HANDLER))
    uploader = json.dumps(_statements(template, UPLOADER_HANDLER))
    assert f'"/{res.INCOMING_PREFIX}*"' in validator
    assert f'"/{res.REPORTS_PREFIX}*"' in validator
    assert f'"/{res.INCOMING_PREFIX}*"' in uploader
    assert f'"/{res.REPORTS_PREFIX}*"' in uploader
    for document in (validator, uploader):
        assert '"/*"' not in document


def test_validator_writes_normalized_copies_and_parts_the_uploader_reads(
    template: Template,
) -> None:
    validator = json.dumps(_statements(template, VALIDATOR_HANDLER))
    uploader = json.dumps(_statements(template, UPLOADER_HANDLER))
    for prefix in (res.NORMALIZED_PREFIX, res.PARTS_PREFIX):
        assert f'"/{prefix}*"' in validator
        assert f'"/{prefix}*"' in uploader


def test_validator_has_room_in_tmp_for_a_500_mb_roster(template: Template) -> None:
    _, validator = _function(template, VALIDATOR_HANDLER)

    assert validator["Properties"]["EphemeralStorage"] == {"Size": 4096}


@pytest.mark.parametrize(
    ("handler", "prefixes"),
    [
        (VALIDATOR_HANDLER, (res.REPORTS_PREFIX, res.NORMALIZED_PREFIX, res.PARTS_PREFIX)),
        (UPLOADER_HANDLER, (res.REPORTS_PREFIX,)),
    ],
)
def test_functions_write_objects_only_where_they_must(
    template: Template, handler: str, prefixes: tuple[str, ...]
) -> None:
    resources = _allowed_on(_statements(template, handler), "s3:PutObject")

    written = sorted(json.dumps(resource).rsplit("/", 1)[0][-20:] for resource in resources)
    assert len(resources) == len(prefixes)
    for prefix in prefixes:
        assert any(f'"/{prefix}*"' in json.dumps(resource) for resource in resources), written


@pytest.mark.parametrize("handler", HANDLERS)
def test_functions_read_write_the_table_and_publish_alerts(
    template: Template, handler: str
) -> None:
    statements = _statements(template, handler)
    table_id, _ = _table(template, res.SUBMISSION_KEY)
    topic_id, _ = _only(template.find_resources("AWS::SNS::Topic"))
    table_arn = {"Fn::GetAtt": [table_id, "Arn"]}
    indexes_arn = {"Fn::Join": ["", [table_arn, "/index/*"]]}
    # The uploader and the poller also keep the districts' tokens.
    tokens = [{"Fn::GetAtt": [_table(template, "district")[0], "Arn"]}]
    expected = [table_arn, indexes_arn, *([] if handler == VALIDATOR_HANDLER else tokens)]
    put = _allowed_on(statements, "dynamodb:PutItem")
    assert sorted(put, key=json.dumps) == sorted(expected, key=json.dumps)
    assert _allowed_on(statements, "sns:Publish") == [{"Ref": topic_id}]


# --- outputs, props ----------------------------------------------------------------------------


def test_outputs_name_the_resources_a_cli_needs(template: Template) -> None:
    outputs = template.find_outputs("*")
    assert {
        "RosterBucketName",
        "SubmissionsTableName",
        "AlertTopicArn",
        "ValidateQueueUrl",
        "ValidateDeadLetterQueueUrl",
        "UploadQueueUrl",
        "UploadDeadLetterQueueUrl",
    } <= set(outputs)
    assert not {"CersSecretArn", "CersSecretName"} & set(outputs)
    env_vars = {output.get("Description") for output in outputs.values()}
    every_resource = [
        res.ROSTER_BUCKET,
        res.VALIDATE_QUEUE,
        res.VALIDATE_DLQ,
        res.UPLOAD_QUEUE,
        res.UPLOAD_DLQ,
        res.SUBMISSIONS_TABLE,
        res.ALERT_TOPIC,
    ]
    assert {resource.env_var for resource in every_resource} <= env_vars


def test_outputs_name_each_districts_secret(template: Template) -> None:
    outputs = template.find_outputs("*")
    secrets = {id_: output for id_, output in outputs.items() if id_.startswith("CersSecret")}
    assert secrets == {
        "CersSecretNameNorthUsd": {
            "Description": "CERS secret of district north-usd",
            "Value": "cers-groups/north-usd/cers-credentials",
        },
        "CersSecretNameSouthUsd": {
            "Description": "CERS secret of district south-usd",
            "Value": "cers/south-usd",
        },
    }


# --- tenants file ------------------------------------------------------------------------------


def test_cdk_json_names_the_repositorys_tenants_file() -> None:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert (ROOT / context[TENANTS_FILE_CONTEXT]).is_file()
    assert not {"alert_emails", "district_id", "cers_endpoint"} & set(context)


@pytest.mark.parametrize(
    ("district_id", "expected"),
    [("default", "Default"), ("north-usd", "NorthUsd"), ("d-042", "D042"), ("a1b", "A1b")],
)
def test_pascal_case(district_id: str, expected: str) -> None:
    assert pascal_case(district_id) == expected


BAD_TENANTS = {
    "duplicate ids": (
        {"districts": [{"id": "north"}, {"id": "north"}]},
        "district ids must be unique",
    ),
    "http endpoint": (
        {"districts": [{"id": "north", "cers_endpoint": "http://cers.example.org/imports/"}]},
        "cers_endpoint must be an https:// URL",
    ),
    "no districts": ({"districts": []}, "districts"),
    "not JSON": ("{districts: []", "not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD_TENANTS))
def test_bad_tenants_file_fails_synthesis_with_its_problem(
    synth: Callable[..., Template], tenants_file: Callable[[Any], Path], case: str
) -> None:
    document, problem = BAD_TENANTS[case]
    path = tenants_file(document)
    with pytest.raises(ConfigurationError, match=problem) as caught:
        synth(**{TENANTS_FILE_CONTEXT: str(path)})
    assert str(path) in str(caught.value)


def test_missing_tenants_file_fails_synthesis(
    synth: Callable[..., Template], tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the tenants file"):
        synth(**{TENANTS_FILE_CONTEXT: str(tmp_path / "nowhere.json")})


@pytest.mark.slow
def test_app_prints_the_tenants_problem_without_a_traceback(
    tenants_file: Callable[[Any], Path], tmp_path: Path
) -> None:
    """What `cdk synth` shows: the CLI runs app.py with the context in CDK_CONTEXT_JSON."""
    path = tenants_file({"districts": [{"id": "x"}, {"id": "x"}]})
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({TENANTS_FILE_CONTEXT: str(path)}),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "district ids must be unique" in result.stderr
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr


def _code_key(template: Template) -> str:
    _, function = _function(template, UPLOADER_HANDLER)
    return function["Properties"]["Code"]["S3Key"]


def test_asset_hash_follows_the_tenants(
    template: Template, tenants: dict[str, Any], synth_tenants: Callable[[Any], Template]
) -> None:
    """Bundling is skipped here, as in `cdk deploy` of another stack: the hash still moves."""
    assert _code_key(synth_tenants(tenants)) == _code_key(template)
    changed = json.loads(json.dumps(tenants))
    changed["districts"][1]["rules"]["school_years"] = [2028]
    assert _code_key(synth_tenants(changed)) != _code_key(template)


def test_asset_hash_ignores_the_tenants_files_layout(
    template: Template, tenants: dict[str, Any], synth_tenants: Callable[[Any], Template]
) -> None:
    """The bundle holds the tenants as read, so reformatting the file changes nothing."""
    reformatted = json.dumps(tenants, indent=4, sort_keys=True)
    assert _code_key(synth_tenants(reformatted)) == _code_key(template)


def test_bundled_tenants_read_back_as_the_same_tenants(tenants: dict[str, Any]) -> None:
    model = Tenants.model_validate(tenants)
    text = tenants_json(model)
    assert Tenants.model_validate_json(text).model_dump() == model.model_dump()
    # Sets come out sorted, so the same tenants always give the same text.
    south = json.loads(text)["districts"][1]
    assert south["rules"]["allowed_schools"] == ["a", "b"]
    assert south["secret_name"] == "cers/south-usd"


@pytest.mark.parametrize(
    ("tenants", "problem"),
    [
        ({"operator_emails": ["not-an-address"], "districts": [{"id": "a"}]}, "not e-mail"),
        ({"districts": [{"id": "a", "alert_emails": ["it @x.org"]}]}, "not e-mail"),
        ({"districts": [{"id": "a-1"}, {"id": "a1"}]}, "same construct id"),
        ({"districts": [{"id": res.OPERATORS_AUDIENCE}]}, "reserved"),
        (
            {
                "districts": [
                    {
                        "id": "a",
                        "cers_endpoint": "http://127.0.0.1:8080/groups/imports/",
                        "cers_endpoint_is_local": True,
                    }
                ]
            },
            "only the local stack",
        ),
    ],
)
def test_bad_tenants_are_rejected_before_synthesis(tenants: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        CersGroupsStack(App(), "Rejected", tenants=Tenants.model_validate(tenants))


def test_tenants_must_be_a_tenants_model(tenants: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="Tenants"):
        CersGroupsStack(App(), "Rejected", tenants=tenants)  # type: ignore[arg-type]


# --- cfn-lint ----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["template", "default_template"])
def test_template_passes_cfn_lint(request: pytest.FixtureRequest, which: str) -> None:
    """No error, warning or note at all, but CDK's own W3005 (redundant DependsOn)."""
    template: Template = request.getfixturevalue(which)
    config = ManualArgs(ignore_checks=["W3005"], regions=["us-west-2"])
    matches = lint(json.dumps(template.to_json()), config=config)
    assert [str(match) for match in matches] == []
