"""Secure by default: cdk-nag, one rotated key for the data, TLS only, access logs, lifecycle,
least privilege for the functions, the districts' drop roles and the SFTP users."""

import json
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Annotations, Match, Template

from cers_groups import resources as res
from infra.nag import MIN_REASON_LENGTH, add_checks, suppress
from infra.sftp import SECURITY_POLICY
from infra.stack import ACCESS_LOG_PREFIX, UPLOADER_HANDLER, VALIDATOR_HANDLER

NAG_FINDING = Match.string_like_regexp("AwsSolutions-.*")
# Every rule the stack suppresses somewhere, each with a reason next to it in infra/.
SUPPRESSED_RULES = {
    "AwsSolutions-IAM4",
    "AwsSolutions-IAM5",
    "AwsSolutions-L1",
    "AwsSolutions-SMG4",
}


# The submissions table (the stack also has a small tokens table).
SUBMISSIONS_TABLE_SHAPE = {
    "Properties": {"KeySchema": [{"AttributeName": res.SUBMISSION_KEY, "KeyType": "HASH"}]}
}


def _only(found: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    assert len(found) == 1, sorted(found)
    return next(iter(found.items()))


def _key_arn(template: Template) -> dict[str, Any]:
    key_id, _ = _only(template.find_resources("AWS::KMS::Key"))
    return {"Fn::GetAtt": [key_id, "Arn"]}


def _roster_bucket(template: Template) -> tuple[str, dict[str, Any]]:
    return _only(
        template.find_resources(
            "AWS::S3::Bucket", {"Properties": {"LoggingConfiguration": Match.any_value()}}
        )
    )


def _log_bucket(template: Template) -> tuple[str, dict[str, Any]]:
    roster_id, _ = _roster_bucket(template)
    buckets = template.find_resources("AWS::S3::Bucket")
    return _only({id_: bucket for id_, bucket in buckets.items() if id_ != roster_id})


def _role_statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _role_of(template: Template, handler: str) -> str:
    _, function = _only(
        template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    )
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


def _prefix_objects(template: Template, prefix: str) -> dict[str, Any]:
    bucket_id, _ = _roster_bucket(template)
    return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{prefix}*"]]}


def _key_statements(template: Template) -> list[dict[str, Any]]:
    _, key = _only(template.find_resources("AWS::KMS::Key"))
    return key["Properties"]["KeyPolicy"]["Statement"]


# --- cdk-nag -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tenants", ["test tenants", "tenants.json"])
def test_cdk_nag_aws_solutions_finds_nothing_unsuppressed(
    checked: dict[str, tuple[Template, Annotations]], tenants: str
) -> None:
    _, annotations = checked[tenants]
    errors = annotations.find_error("*", NAG_FINDING)
    warnings = annotations.find_warning("*", NAG_FINDING)
    assert [f"{m.id}: {m.entry.data}" for m in [*errors, *warnings]] == []


def test_cdk_nag_reports_what_it_finds() -> None:
    """The check is not vacuous: an unencrypted queue without TLS or DLQ is reported."""
    stack = Stack(App(), "Probe")
    sqs.Queue(stack, "Careless", encryption=sqs.QueueEncryption.UNENCRYPTED)
    add_checks(stack)
    Template.from_stack(stack)
    found = {
        str(m.entry.data).split(":")[0]
        for m in Annotations.from_stack(stack).find_error("*", NAG_FINDING)
    }
    assert {"AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= found


def test_every_suppression_gives_its_reason(
    checked: dict[str, tuple[Template, Annotations]],
) -> None:
    template, _ = checked["test tenants"]
    suppressions = [
        rule
        for resource in template.to_json()["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert {rule["id"] for rule in suppressions} == SUPPRESSED_RULES
    for rule in suppressions:
        assert len(rule["reason"]) >= MIN_REASON_LENGTH, rule
    # Wildcard findings are accepted for the exact actions and resources reviewed, never all.
    for rule in suppressions:
        if rule["id"] in ("AwsSolutions-IAM4", "AwsSolutions-IAM5"):
            assert rule.get("applies_to"), rule


def test_suppress_refuses_a_suppression_without_a_real_reason() -> None:
    stack = Stack(App(), "Probe")
    with pytest.raises(ValueError, match="real reason"):
        suppress(stack, "S1", "not needed")


# --- the key -----------------------------------------------------------------------------------


def test_one_customer_managed_key_with_rotation_is_kept(template: Template) -> None:
    template.resource_count_is("AWS::KMS::Key", 1)
    template.has_resource(
        "AWS::KMS::Key",
        {
            "Properties": {"EnableKeyRotation": True},
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_outputs_name_what_teardown_leaves_behind(template: Template) -> None:
    outputs = template.find_outputs("*")
    key_id, _ = _only(template.find_resources("AWS::KMS::Key"))
    log_id, _ = _log_bucket(template)
    assert outputs["DataKeyArn"]["Value"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert outputs["AccessLogBucketName"]["Value"] == {"Ref": log_id}


def test_key_encrypts_bucket_table_topic_queues_and_secrets(template: Template) -> None:
    key_arn = _key_arn(template)
    _, bucket = _roster_bucket(template)
    [rule] = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == key_arn
    _, table = _only(template.find_resources("AWS::DynamoDB::Table", SUBMISSIONS_TABLE_SHAPE))
    assert table["Properties"]["SSESpecification"] == {
        "KMSMasterKeyId": key_arn,
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    _, topic = _only(template.find_resources("AWS::SNS::Topic"))
    assert topic["Properties"]["KmsMasterKeyId"] == key_arn
    queues = template.find_resources("AWS::SQS::Queue").values()
    assert len(queues) == 4
    assert all(queue["Properties"]["KmsMasterKeyId"] == key_arn for queue in queues)
    secrets = template.find_resources("AWS::SecretsManager::Secret").values()
    assert len(secrets) == 2
    assert all(secret["Properties"]["KmsKeyId"] == key_arn for secret in secrets)


def test_key_lets_s3_notify_the_encrypted_queue(template: Template) -> None:
    statements = [
        s for s in _key_statements(template) if s["Principal"] == {"Service": "s3.amazonaws.com"}
    ]
    assert [sorted(s["Action"]) for s in statements] == [["kms:Decrypt", "kms:GenerateDataKey"]]


def test_key_and_topic_let_cloudwatch_alarms_notify(template: Template) -> None:
    cloudwatch = {"Service": "cloudwatch.amazonaws.com"}
    [statement] = [s for s in _key_statements(template) if s["Principal"] == cloudwatch]
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    _, policy = _only(template.find_resources("AWS::SNS::TopicPolicy"))
    [publish] = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Principal"] == cloudwatch
    ]
    assert publish["Effect"] == "Allow"
    assert publish["Action"] == "sns:Publish"
    assert publish["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert ":alarm:*" in json.dumps(publish["Condition"]["ArnLike"])


def test_queue_policy_lets_only_the_roster_bucket_send(template: Template) -> None:
    bucket_id, _ = _roster_bucket(template)
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "s3.amazonaws.com"},
                                "Condition": {
                                    "ArnLike": {"aws:SourceArn": {"Fn::GetAtt": [bucket_id, "Arn"]}}
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


# --- buckets -----------------------------------------------------------------------------------


def test_roster_bucket_logs_access_to_a_separate_bucket(template: Template) -> None:
    log_id, log_bucket = _log_bucket(template)
    _, bucket = _roster_bucket(template)
    assert bucket["Properties"]["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": log_id},
        "LogFilePrefix": ACCESS_LOG_PREFIX,
    }
    props = log_bucket["Properties"]
    # S3 delivers access logs only to buckets encrypted with S3-managed keys.
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert props["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    [expiry] = props["LifecycleConfiguration"]["Rules"]
    assert expiry["ExpirationInDays"] == 400
    assert log_bucket["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("which", ["roster", "log"])
def test_both_buckets_deny_requests_without_tls(template: Template, which: str) -> None:
    bucket_id, _ = _roster_bucket(template) if which == "roster" else _log_bucket(template)
    _, policy = _only(
        template.find_resources(
            "AWS::S3::BucketPolicy", {"Properties": {"Bucket": {"Ref": bucket_id}}}
        )
    )
    conditions = [
        s["Condition"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s["Principal"] == {"AWS": "*"}
    ]
    assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
    assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions


def _lifecycle(template: Template) -> dict[str, dict[str, Any]]:
    _, bucket = _roster_bucket(template)
    return {rule["Id"]: rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}


def test_rosters_and_reports_expire_after_the_default_days(default_template: Template) -> None:
    rules = _lifecycle(default_template)
    expected = {
        "ExpireRosters": (res.INCOMING_PREFIX, 30),
        "ExpireNormalizedRosters": (res.NORMALIZED_PREFIX, 30),
        "ExpireReports": (res.REPORTS_PREFIX, 90),
    }
    for rule_id, (prefix, days) in expected.items():
        rule = rules[rule_id]
        assert rule["Prefix"] == prefix
        assert rule["Status"] == "Enabled"
        assert rule["ExpirationInDays"] == days
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": days}


def test_retention_days_come_from_the_tenants_file(template: Template) -> None:
    rules = _lifecycle(template)
    assert rules["ExpireRosters"]["ExpirationInDays"] == 14
    assert rules["ExpireNormalizedRosters"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 14
    assert rules["ExpireReports"]["ExpirationInDays"] == 60


def test_bucket_cleans_up_delete_markers_and_broken_uploads(template: Template) -> None:
    rule = _lifecycle(template)["CleanUp"]
    assert rule["ExpiredObjectDeleteMarker"] is True
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "Prefix" not in rule


# --- table -------------------------------------------------------------------------------------


def test_table_has_point_in_time_recovery_and_expires_submissions(template: Template) -> None:
    _, table = _only(template.find_resources("AWS::DynamoDB::Table", SUBMISSIONS_TABLE_SHAPE))
    props = table["Properties"]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": res.SUBMISSION_EXPIRY,
        "Enabled": True,
    }
    assert table["DeletionPolicy"] == "Retain"


# --- functions' roles --------------------------------------------------------------------------


@pytest.mark.parametrize("handler", [VALIDATOR_HANDLER, UPLOADER_HANDLER])
def test_function_role_has_no_managed_policy_and_writes_only_its_log_group(
    template: Template, handler: str
) -> None:
    role_id = _role_of(template, handler)
    role = template.to_json()["Resources"][role_id]
    assert "ManagedPolicyArns" not in role["Properties"]
    _, function = _only(
        template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    )
    log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    logs = [s for s in _role_statements(template, role_id) if "logs:PutLogEvents" in s["Action"]]
    assert [s["Resource"] for s in logs] == [{"Fn::GetAtt": [log_group, "Arn"]}]


def test_only_x_ray_is_granted_on_every_resource(template: Template) -> None:
    everywhere = set()
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Resource"] == "*":
                actions = statement["Action"]
                everywhere.update([actions] if isinstance(actions, str) else actions)
    assert everywhere == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return sorted([action] if isinstance(action, str) else action)


def test_validator_reads_dropped_versions_and_writes_reports_and_prepared_copies(
    template: Template,
) -> None:
    statements = _role_statements(template, _role_of(template, VALIDATOR_HANDLER))
    s3_grants = [
        (_actions(s), s["Resource"])
        for s in statements
        if any(action.startswith("s3:") for action in _actions(s))
    ]
    assert s3_grants == [
        (["s3:GetObject", "s3:GetObjectVersion"], _prefix_objects(template, res.INCOMING_PREFIX)),
        (["s3:GetObject", "s3:PutObject"], _prefix_objects(template, res.REPORTS_PREFIX)),
        (
            ["s3:PutObject"],
            [
                _prefix_objects(template, res.NORMALIZED_PREFIX),
                _prefix_objects(template, res.PARTS_PREFIX),
            ],
        ),
    ]


# --- districts' drop roles ---------------------------------------------------------------------


def _exporter_roles(template: Template) -> dict[str, dict[str, Any]]:
    return {
        role_id: role
        for role_id, role in template.find_resources("AWS::IAM::Role").items()
        if role_id.startswith("ExporterRole")
    }


def test_exporter_role_only_for_districts_that_name_a_principal(
    template: Template, default_template: Template
) -> None:
    roles = _exporter_roles(template)
    assert [role_id.startswith("ExporterRoleNorthUsd") for role_id in roles] == [True]
    assert _exporter_roles(default_template) == {}
    outputs = [id_ for id_ in template.find_outputs("*") if id_.startswith("ExporterRoleArn")]
    assert outputs == ["ExporterRoleArnNorthUsd"]


def test_exporter_role_is_assumable_by_the_configured_principal_only(
    template: Template, tenants: dict[str, Any]
) -> None:
    north = tenants["districts"][0]
    [(role_id, role)] = _exporter_roles(template).items()
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Action": "sts:AssumeRole",
        "Effect": "Allow",
        "Principal": {"AWS": north["exporter_principal"]},
    }
    assert role["Properties"]["MaxSessionDuration"] == 3600


def test_exporter_role_may_only_put_objects_in_its_districts_folder(template: Template) -> None:
    [role_id] = _exporter_roles(template)
    statements = _role_statements(template, role_id)
    by_sid = {s["Sid"]: s for s in statements}
    assert set(by_sid) == {"PutRosters", "EncryptRostersThroughS3"}
    assert by_sid["PutRosters"]["Action"] == "s3:PutObject"
    assert by_sid["PutRosters"]["Resource"] == _prefix_objects(template, "incoming/north-usd/")
    kms = by_sid["EncryptRostersThroughS3"]
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Resource"] == _key_arn(template)
    assert "kms:ViaService" in kms["Condition"]["StringEquals"]


# --- SFTP --------------------------------------------------------------------------------------


def test_sftp_is_off_by_default(default_template: Template) -> None:
    default_template.resource_count_is("AWS::Transfer::Server", 0)
    default_template.resource_count_is("AWS::Transfer::User", 0)
    assert "SftpServerId" not in default_template.find_outputs("*")


def test_sftp_server_when_switched_on(template: Template) -> None:
    _, server = _only(template.find_resources("AWS::Transfer::Server"))
    props = server["Properties"]
    assert props["Protocols"] == ["SFTP"]
    assert props["IdentityProviderType"] == "SERVICE_MANAGED"
    assert props["SecurityPolicyName"] == SECURITY_POLICY
    assert props["StructuredLogDestinations"] and props["LoggingRole"]
    assert "SftpServerId" in template.find_outputs("*")


def test_sftp_user_per_district_lands_in_its_folder(template: Template) -> None:
    bucket_id, _ = _roster_bucket(template)
    _, user = _only(template.find_resources("AWS::Transfer::User"))
    props = user["Properties"]
    assert props["UserName"] == "north-sis"
    assert props["HomeDirectoryType"] == "LOGICAL"
    assert props["HomeDirectoryMappings"] == [
        {
            "Entry": "/",
            "Target": {"Fn::Join": ["", ["/", {"Ref": bucket_id}, "/incoming/north-usd"]]},
        }
    ]


def test_sftp_user_role_puts_and_lists_its_folder_and_reads_nothing(template: Template) -> None:
    _, user = _only(template.find_resources("AWS::Transfer::User"))
    role_id = user["Properties"]["Role"]["Fn::GetAtt"][0]
    role = template.to_json()["Resources"][role_id]
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "transfer.amazonaws.com"}
    source = json.dumps(trust["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ":user/" in source and "ServerId" in source
    by_sid = {s["Sid"]: s for s in _role_statements(template, role_id)}
    assert set(by_sid) == {"ListOwnFolder", "PutRosters", "EncryptRostersThroughS3"}
    assert by_sid["PutRosters"]["Action"] == "s3:PutObject"
    assert by_sid["PutRosters"]["Resource"] == _prefix_objects(template, "incoming/north-usd/")
    assert by_sid["ListOwnFolder"]["Condition"] == {
        "StringLike": {"s3:prefix": ["incoming/north-usd/", "incoming/north-usd/*"]}
    }
