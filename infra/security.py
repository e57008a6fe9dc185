"""The deployment's encryption key, the access-log bucket, and the districts' drop roles.

One customer-managed KMS key (rotated yearly) encrypts the roster bucket, the submissions
table, the alert topic, the queues and the CERS secrets. Each function and role is granted
exactly the key operations its own resources need.
"""

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cers_groups.tenants import DeploymentSettings, District
from infra.nag import suppress

KEY_ID = "DataKey"
ACCESS_LOG_BUCKET_ID = "AccessLogBucket"
EXPORTER_ROLE_PREFIX = "ExporterRole"
# A role session for an SIS export job: long enough for a large upload, short-lived otherwise.
EXPORTER_SESSION = Duration.hours(1)
# The key operations S3 performs for a caller that writes an SSE-KMS object (GenerateDataKey),
# and for one that writes it in parts, as `aws s3 cp` does for large files (Decrypt).
S3_WRITE_KEY_ACTIONS = ["kms:GenerateDataKey", "kms:Decrypt"]


def build_key(scope: Construct) -> kms.Key:
    """The customer-managed key, with yearly rotation, kept when the stack is deleted.

    The bucket and table it encrypts are kept too, and are unreadable without it.
    """
    key = kms.Key(
        scope,
        KEY_ID,
        description="cers-groups: rosters, reports, submissions, alerts, queues, CERS secrets",
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.RETAIN,
    )
    # CloudWatch alarm notifications go to the encrypted alert topic: CloudWatch must be able
    # to create the data key SNS encrypts them with (CloudWatch names no alarm or account here).
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsPublishToTheAlertTopic",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
        )
    )
    return key


@jsii.implements(s3.IBucketNotificationDestination)
class EncryptedQueueDestination:
    """S3 event notifications to a queue encrypted with the bucket's own key.

    CDK's `SqsDestination` grants S3 the key through a key-policy statement conditioned on the
    bucket's ARN; with the bucket encrypted by the same key, that makes the key and the bucket
    depend on each other and CloudFormation refuses the template. Here the queue policy keeps
    that condition (only this bucket may send), and the key policy lets S3 create and use data
    keys, as AWS documents for notifications to encrypted queues.
    """

    def __init__(self, queue: sqs.Queue, key: kms.Key) -> None:
        self._queue = queue
        self._key = key

    def bind(self, _scope: Construct, bucket: s3.IBucket) -> s3.BucketNotificationDestinationConfig:
        self._queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="RosterBucketNotifications",
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                resources=[self._queue.queue_arn],
                conditions={"ArnLike": {"aws:SourceArn": bucket.bucket_arn}},
            )
        )
        self._key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="S3NotificationsToEncryptedQueues",
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=["*"],
            )
        )
        return s3.BucketNotificationDestinationConfig(
            arn=self._queue.queue_arn,
            type=s3.BucketNotificationDestinationType.QUEUE,
            dependencies=[self._queue],
        )


def build_access_log_bucket(scope: Construct, deployment: DeploymentSettings) -> s3.Bucket:
    """Where S3 writes the roster bucket's server access logs (keys and callers, no content).

    S3 delivers access logs only to a bucket encrypted with S3-managed keys, so this one does
    not use the KMS key.
    """
    bucket = s3.Bucket(
        scope,
        ACCESS_LOG_BUCKET_ID,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        lifecycle_rules=[
            s3.LifecycleRule(
                id="ExpireAccessLogs",
                expiration=Duration.days(deployment.access_log_retention_days),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ],
        removal_policy=RemovalPolicy.RETAIN,
    )
    return bucket


def build_exporter_role(
    scope: Construct, district: District, construct_suffix: str, bucket: s3.IBucket, key: kms.IKey
) -> iam.Role:
    """The role a district's SIS export job assumes: PutObject in its own folder, nothing else.

    The key grant is what S3 needs to encrypt the object with the bucket's key, and holds only
    for requests S3 makes on the role's behalf.
    """
    if not district.exporter_principal:
        raise ValueError(f"district {district.id} names no exporter_principal")
    role = iam.Role(
        scope,
        f"{EXPORTER_ROLE_PREFIX}{construct_suffix}",
        assumed_by=iam.ArnPrincipal(district.exporter_principal),
        description=f"SIS export of district {district.id}: put rosters in {district.prefix}",
        max_session_duration=EXPORTER_SESSION,
    )
    objects = bucket.arn_for_objects(f"{district.prefix}*")
    role.add_to_policy(
        iam.PolicyStatement(sid="PutRosters", actions=["s3:PutObject"], resources=[objects])
    )
    region = Stack.of(scope).region
    role.add_to_policy(
        iam.PolicyStatement(
            sid="EncryptRostersThroughS3",
            actions=S3_WRITE_KEY_ACTIONS,
            resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        )
    )
    suppress(
        role,
        "IAM5",
        "The export job writes any file name, so PutObject needs every key under the "
        "district's own folder; nothing outside that folder is writable.",
        applies_to=[f"Resource::<{logical_id(bucket)}.Arn>/{district.prefix}*"],
    )
    return role


def logical_id(bucket: s3.IBucket) -> str:
    """The bucket's logical id, as cdk-nag writes it in `applies_to` (`<LogicalId.Arn>`)."""
    return Stack.of(bucket).get_logical_id(bucket.node.default_child)
